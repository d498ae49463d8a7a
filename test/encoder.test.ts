/**
 * The shipped sentence encoder (models/minilm-l6): the tokenizer gives the ids of the Python original,
 * onnxruntime-node reproduces the Python ONNX Runtime run of the same graph within 1e-4, and it stays
 * within the quantisation error of the PyTorch original (reference saved by `npm run export:encoder`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { SentenceEncoder } from '../src/pipeline/sentence-encoder.js';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'models', 'minilm-l6');
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
const encoder = new SentenceEncoder(backend, dir);
afterAll(() => backend.dispose());

interface Outputs {
  token_states: number[][][];
  sentence: number[][];
}
const reference = JSON.parse(
  readFileSync(path.join(root, 'test', 'fixtures', 'minilm-l6-reference.json'), 'utf8'),
) as {
  sentences: string[];
  input_ids: number[][];
  attention_mask: number[][];
  pytorch: Outputs;
  onnxruntime_shipped: Outputs;
};
const metrics = JSON.parse(readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as {
  shipped_vs_pytorch: { sentence_cosine_min: number };
};

/** The token states of the real tokens (padding rows left out), flattened. */
function realTokens(states: number[][][]): number[] {
  return states.flatMap((rows, s) => rows.filter((_, t) => reference.attention_mask[s]![t] === 1).flat());
}

/** The same, from a `[texts, longest, 384]` tensor. */
function realTokensOf(data: Float32Array, longest: number): number[] {
  const out: number[] = [];
  reference.attention_mask.forEach((mask, s) => {
    mask.forEach((real, t) => {
      if (real) out.push(...data.subarray((s * longest + t) * 384, (s * longest + t + 1) * 384));
    });
  });
  return out;
}

function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
};

describe('minilm-l6 sentence encoder', () => {
  it('tokenises as the Python tokenizer did', async () => {
    const { tokenStates } = await encoder.encode(reference.sentences);
    const longest = reference.input_ids[0]!.length;
    expect(tokenStates.dims).toEqual([reference.sentences.length, longest, 384]);
    // The ids themselves: the real tokens of each sentence, as the reference padded them.
    const { Tokenizer } = await import('@huggingface/tokenizers');
    const tokenizer = new Tokenizer(JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')), {});
    reference.sentences.forEach((sentence, s) => {
      const real = reference.input_ids[s]!.filter((_, t) => reference.attention_mask[s]![t] === 1);
      expect(tokenizer.encode(sentence).ids).toEqual(real);
    });
  });

  it('matches the Python ONNX Runtime run of the same graph within 1e-4', async () => {
    const { tokenStates, sentences } = await encoder.encode(reference.sentences);
    const longest = tokenStates.dims[1]!;
    expect(
      maxAbsError(
        realTokensOf(tokenStates.data as Float32Array, longest),
        realTokens(reference.onnxruntime_shipped.token_states),
      ),
    ).toBeLessThan(1e-4);
    expect(
      maxAbsError(
        sentences.flatMap((v) => [...v]),
        reference.onnxruntime_shipped.sentence.flat(),
      ),
    ).toBeLessThan(1e-4);
  });

  it('stays within the quantisation error of the PyTorch original', async () => {
    const { tokenStates, sentences } = await encoder.encode(reference.sentences);
    const longest = tokenStates.dims[1]!;
    const pytorch = realTokens(reference.pytorch.token_states);
    // The error the export measured for the same graph in Python, plus the runtime tolerance.
    const quantisation = maxAbsError(realTokens(reference.onnxruntime_shipped.token_states), pytorch);
    expect(maxAbsError(realTokensOf(tokenStates.data as Float32Array, longest), pytorch)).toBeLessThanOrEqual(
      quantisation + 1e-4,
    );
    sentences.forEach((vector, s) => {
      expect(dot(vector, reference.pytorch.sentence[s]!)).toBeGreaterThanOrEqual(0.99);
    });
    expect(metrics.shipped_vs_pytorch.sentence_cosine_min).toBeGreaterThanOrEqual(0.99);
  });

  it('gives the same vector alone as in a padded batch, of unit length', async () => {
    const [alone] = await encoder.embed([reference.sentences[2]!]);
    const batched = (await encoder.embed(reference.sentences))[2]!;
    expect(maxAbsError(alone!, batched)).toBeLessThan(1e-4);
    expect(dot(alone!, alone!)).toBeCloseTo(1, 4);
  });

  it('cuts a very long text to the model length instead of failing', async () => {
    const { tokenStates } = await encoder.encode(['word '.repeat(600)]);
    expect(tokenStates.dims).toEqual([1, 128, 384]);
  });

  it('names a folder that has no encoder when it is first used', async () => {
    const missing = new SentenceEncoder(backend, path.join(root, 'models', 'no-such-encoder'));
    expect(SentenceEncoder.present(missing.dir)).toBe(false);
    await expect(missing.embed(['hello'])).rejects.toThrow(/no-such-encoder\/encoder\.json: missing/);
  });
});
