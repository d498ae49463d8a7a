/**
 * The CLIP byte-level BPE tokenizer (OpenAI CLIP's simple_tokenizer), loaded from a model folder's
 * `tokenizer/vocab.json` and `merges.txt`, as Stable Diffusion folders ship them.
 */
import { readFileSync } from 'node:fs';

/** Token ids of CLIP's special tokens. */
export const CLIP_CONTEXT_LENGTH = 77;

const PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** GPT-2's reversible map from bytes to printable unicode characters. */
function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  }
  return table;
}

const BYTE_TO_CHAR = bytesToUnicode();
const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
};

function htmlUnescape(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, body: string) => {
    if (body[0] === '#') {
      const code =
        body[1] === 'x' || body[1] === 'X'
          ? Number.parseInt(body.slice(2), 16)
          : Number.parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

/**
 * CLIP's text clean-up: NFC, unescape HTML entities twice, collapse whitespace, lower-case. Exported
 * because the blocklist must check the same text the encoder reads (`src/prompt/fold.ts`).
 */
export function clipClean(text: string): string {
  return htmlUnescape(htmlUnescape(text.normalize('NFC')))
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

/** A CLIP tokenizer. */
export class ClipTokenizer {
  readonly startToken: number;
  readonly endToken: number;
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  constructor(vocab: Record<string, number>, merges: readonly string[]) {
    this.vocab = new Map(Object.entries(vocab));
    this.ranks = new Map(merges.map((merge, rank) => [merge, rank]));
    const start = this.vocab.get('<|startoftext|>');
    const end = this.vocab.get('<|endoftext|>');
    if (start === undefined || end === undefined)
      throw new Error('CLIP vocabulary lacks <|startoftext|> or <|endoftext|>');
    this.startToken = start;
    this.endToken = end;
  }

  /** Loads `vocab.json` and `merges.txt` (whose first line is a `#version` header). */
  static fromFiles(vocabPath: string, mergesPath: string): ClipTokenizer {
    let vocab: Record<string, number>;
    try {
      vocab = JSON.parse(readFileSync(vocabPath, 'utf8')) as Record<string, number>;
    } catch (error) {
      throw new Error(`Cannot read the tokenizer vocabulary ${vocabPath}: ${(error as Error).message}`);
    }
    let lines: string[];
    try {
      lines = readFileSync(mergesPath, 'utf8').split('\n');
    } catch (error) {
      throw new Error(`Cannot read the tokenizer merges ${mergesPath}: ${(error as Error).message}`);
    }
    const merges = lines.filter((line, i) => line.trim() !== '' && !(i === 0 && line.startsWith('#version')));
    return new ClipTokenizer(vocab, merges);
  }

  /** The id of a vocabulary entry (e.g. a pad token such as "!"), or undefined. */
  tokenId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  /** Token ids with start and end tokens, untruncated. */
  encode(text: string): number[] {
    const ids = [this.startToken];
    for (const match of clipClean(text).matchAll(PATTERN)) {
      const word = Array.from(new TextEncoder().encode(match[0]), (byte) => BYTE_TO_CHAR[byte]!).join('');
      for (const piece of this.bpe(word)) {
        const id = this.vocab.get(piece);
        if (id === undefined) throw new Error(`Token "${piece}" is missing from the vocabulary`);
        ids.push(id);
      }
    }
    ids.push(this.endToken);
    return ids;
  }

  /**
   * Ids padded (with the end token, as Stable Diffusion's tokenizer config does) or truncated to
   * `length`; a truncated sequence still ends with the end token.
   */
  encodePadded(text: string, length = CLIP_CONTEXT_LENGTH, padToken = this.endToken): number[] {
    const ids = this.encode(text);
    if (ids.length > length) return [...ids.slice(0, length - 1), this.endToken];
    return ids.concat(new Array<number>(length - ids.length).fill(padToken));
  }

  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    while (word.length > 1) {
      let best: number | undefined;
      let bestIndex = -1;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && (best === undefined || rank < best)) {
          best = rank;
          bestIndex = i;
        }
      }
      if (best === undefined) break;
      const first = word[bestIndex]!;
      const second = word[bestIndex + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]!);
          i++;
        }
      }
      word = merged;
    }
    if (this.cache.size < 10_000) this.cache.set(token, word);
    return word;
  }
}
