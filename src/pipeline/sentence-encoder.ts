/**
 * A pretrained sentence encoder (all-MiniLM-L6-v2, `models/minilm-l6`): one ONNX graph that gives the
 * token states of a text (for conditioning) and its mean-pooled, L2-normalised sentence vector (for
 * meaning: the cosine of two vectors is their dot product). The folder is read lazily on the first
 * text, so a bot that nobody replies to never loads it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';
import { folderError, readJson, requireFile } from './folder.js';
import type { HostTensor, OnnxBackend } from './onnx.js';

/** The manifest every encoder folder has. */
export const ENCODER_MANIFEST = 'encoder.json';

/** Longest text read, in characters: a reply longer than this is cut before it is tokenised. */
const MAX_CHARACTERS = 1000;

const manifestSchema = z.object({
  format: z.literal('flowbot-encoder'),
  version: z.literal(1),
  model: z.string().min(1),
  tokenizer: z.string().min(1),
  max_length: z.number().int().min(8).max(512),
  pad_token_id: z.number().int().min(0),
  dimensions: z.number().int().min(1),
});

/** What the encoder gives for a batch of texts. */
export interface Encoded {
  /** `[texts, longest, dimensions]`; rows past a text's own length are padding. */
  readonly tokenStates: HostTensor;
  /** One unit-length vector per text. */
  readonly sentences: Float32Array[];
}

interface Loaded {
  /**
   * The encoder's ONNX file, loaded through the backend on each use: the pipeline shares it (the
   * shipped model's text encoder) and may release it after a prompt (RELEASE_TEXT_ENCODERS).
   */
  readonly file: string;
  readonly tokenizer: Tokenizer;
  readonly manifest: z.infer<typeof manifestSchema>;
}

/** A sentence-encoder folder, loaded on first use through the process's ONNX backend. */
export class SentenceEncoder {
  private loaded: Promise<Loaded> | undefined;

  constructor(
    private readonly backend: OnnxBackend,
    /** The folder holding `encoder.json`. */
    readonly dir: string,
  ) {}

  /** True when `dir` holds an encoder manifest (the ONNX file is checked when it loads). */
  static present(dir: string): boolean {
    return existsSync(path.join(dir, ENCODER_MANIFEST));
  }

  /** Unit-length sentence vectors, one per text. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return (await this.encode(texts)).sentences;
  }

  /** Token states and sentence vectors of a batch of texts. */
  async encode(texts: readonly string[]): Promise<Encoded> {
    const { file, tokenizer, manifest } = await this.load();
    const model = await this.backend.load(file);
    const sequences = texts.map((text) => this.ids(tokenizer, manifest.max_length, text));
    const longest = Math.max(1, ...sequences.map((ids) => ids.length));
    const ids = new BigInt64Array(texts.length * longest).fill(BigInt(manifest.pad_token_id));
    const mask = new BigInt64Array(texts.length * longest);
    sequences.forEach((sequence, row) => {
      sequence.forEach((id, column) => {
        ids[row * longest + column] = BigInt(id);
        mask[row * longest + column] = 1n;
      });
    });
    const dims = [texts.length, longest];
    const out = await model.run({ input_ids: { data: ids, dims }, attention_mask: { data: mask, dims } });
    const sentence = out.sentence!.data as Float32Array;
    const width = manifest.dimensions;
    return {
      tokenStates: out.token_states!,
      sentences: texts.map((_, row) => sentence.slice(row * width, (row + 1) * width)),
    };
  }

  /** Ids with [CLS] and [SEP], truncated to the model's length keeping [SEP] last. */
  private ids(tokenizer: Tokenizer, maxLength: number, text: string): number[] {
    const ids = tokenizer.encode(text.slice(0, MAX_CHARACTERS)).ids;
    if (ids.length <= maxLength) return ids;
    return [...ids.slice(0, maxLength - 1), ids[ids.length - 1]!];
  }

  private load(): Promise<Loaded> {
    if (!this.loaded) {
      this.loaded = this.read();
      // A failed load (a broken file) is tried again on the next text rather than remembered.
      this.loaded.catch(() => {
        this.loaded = undefined;
      });
    }
    return this.loaded;
  }

  private async read(): Promise<Loaded> {
    const file = path.join(this.dir, ENCODER_MANIFEST);
    const parsed = manifestSchema.safeParse(readJson(file));
    if (!parsed.success)
      throw folderError(file, `not an encoder manifest (${parsed.error.issues[0]?.message})`);
    const manifest = parsed.data;
    const tokenizerFile = requireFile(path.join(this.dir, manifest.tokenizer));
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(readJson(tokenizerFile) as object, {});
    } catch (error) {
      throw folderError(tokenizerFile, `cannot be read as a tokenizer (${(error as Error).message})`);
    }
    const model = await this.backend.load(requireFile(path.join(this.dir, manifest.model)));
    for (const output of ['token_states', 'sentence'])
      if (!model.output(output)) throw folderError(model.file, `has no output "${output}"`);
    return { file: model.file, tokenizer, manifest };
  }
}
