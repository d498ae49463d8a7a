/**
 * Prompt tokenizers behind one interface: CLIP's BPE from `vocab.json` + `merges.txt` (our own
 * implementation, checked against OpenAI's reference ids), and any `tokenizer.json` (T5's Unigram and
 * MiniLM's WordPiece included) through the maintained @huggingface/tokenizers library.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { FlowbotError } from '../errors.js';
import { parseWeights, plainPrompt } from '../prompt/weights.js';
import { ClipTokenizer } from './clip-bpe.js';
import { folderError as fail, readJson, type TokenizerSpec } from './folder.js';

// Defined in folder.ts, which reads it from a model folder; this module only loads it.
export type { TokenizerSpec } from './folder.js';

/** Turns a prompt into exactly `length` ids, as diffusers' pipelines call their tokenizers. */
export interface PromptTokenizer {
  readonly length: number;
  /** Ids padded to `length` with the pad token, or truncated keeping the end token last. */
  ids(text: string): Int32Array;
  /**
   * The same ids without padding: the text's own tokens with the start and end tokens, at most
   * `length` of them (a longer text keeps its first `length − 1` and its end token).
   */
  tokens(text: string): number[];
  /** The ids with each token's `(words:w)` weight (1 elsewhere; all 1 where weighting is unsupported). */
  weighted(text: string): { ids: Int32Array; weights: Float32Array };
}

/** Truncates (truncation=True) keeping the end token last: `ids[:length-1] + [end]`. */
function cut(ids: readonly number[], length: number, endId: number): number[] {
  return ids.length > length ? [...ids.slice(0, length - 1), endId] : [...ids];
}

/** Pads or truncates (max_length padding, truncation=True): a truncated sequence keeps its end token. */
function padOrTruncate(ids: readonly number[], length: number, padId: number, endId: number): Int32Array {
  const out = new Int32Array(length).fill(padId);
  out.set(cut(ids, length, endId));
  return out;
}

function clipTokenizer(spec: Extract<TokenizerSpec, { kind: 'clip' }>): PromptTokenizer {
  const clip = ClipTokenizer.fromFiles(spec.vocab, spec.merges);
  const padId = typeof spec.pad === 'number' ? spec.pad : clip.tokenId(spec.pad);
  if (padId === undefined) throw fail(spec.vocab, `has no pad token "${spec.pad}"`);
  const length = spec.maxLength;
  return {
    length,
    ids: (text) => padOrTruncate(clip.encode(plainPrompt(text)), length, padId, clip.endToken),
    tokens: (text) => cut(clip.encode(plainPrompt(text)), length, clip.endToken),
    weighted: (text) => {
      // Each segment tokenized alone (without its start and end tokens), its weight on each token.
      const ids = [clip.startToken];
      const weights = [1];
      for (const segment of parseWeights(text)) {
        const tokens = clip.encode(segment.text).slice(1, -1);
        ids.push(...tokens);
        weights.push(...tokens.map(() => segment.weight));
      }
      ids.push(clip.endToken);
      weights.push(1);
      const padded = padOrTruncate(ids, length, padId, clip.endToken);
      const w = new Float32Array(length).fill(1);
      w.set(weights.slice(0, Math.min(weights.length, length - 1)));
      if (ids.length > length) w[length - 1] = 1;
      return { ids: padded, weights: w };
    },
  };
}

function jsonTokenizer(spec: Extract<TokenizerSpec, { kind: 'json' }>): PromptTokenizer {
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(
      readJson(spec.file) as object,
      spec.config ? (readJson(spec.config) as object) : {},
    );
  } catch (error) {
    if (error instanceof FlowbotError) throw error;
    throw fail(spec.file, `cannot be read as a tokenizer (${(error as Error).message})`);
  }
  const padId = typeof spec.pad === 'number' ? spec.pad : tokenizer.token_to_id(spec.pad);
  if (padId === undefined) throw fail(spec.file, `has no pad token "${spec.pad}"`);
  const tokens = (text: string) => {
    const encoded = tokenizer.encode(plainPrompt(text)).ids;
    // The post-processor appends the end token (T5's </s>, WordPiece's [SEP]); truncation keeps it last.
    return cut(encoded, spec.maxLength, encoded[encoded.length - 1] ?? padId);
  };
  const ids = (text: string) => padOrTruncate(tokens(text), spec.maxLength, padId, padId);
  return {
    length: spec.maxLength,
    ids,
    tokens,
    // Weighting is applied to CLIP embeddings only; T5 and WordPiece read the words without their weights.
    weighted: (text) => ({ ids: ids(text), weights: new Float32Array(spec.maxLength).fill(1) }),
  };
}

/** Loads the tokenizer a spec describes. */
export function loadTokenizer(spec: TokenizerSpec): PromptTokenizer {
  return spec.kind === 'clip' ? clipTokenizer(spec) : jsonTokenizer(spec);
}
