/**
 * The shipped model (v3): onnxruntime-node and flowbot's tokenizer and encoding path reproduce the
 * Python export's outputs on the same inputs (saved at export), for every component, and the pipeline
 * makes deterministic images with it. Nothing here depends on what the images look like: the weights
 * are replaced by retrained ones with the same files and interface.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { draftDenoiser } from '../src/pipeline/draft.js';
import { familyOf } from '../src/pipeline/families/index.js';
import { loadModelSpec } from '../src/pipeline/model.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { TextEncoders } from '../src/pipeline/text.js';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'models', 'flowbot-emoji');
const spec = loadModelSpec(dir);
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
afterAll(() => backend.dispose());

interface Reference {
  prompts: string[];
  input_ids: number[][];
  inputs: {
    encoder_hidden_states: number[];
    pooled_projections: number[];
    sample: number[];
    timestep: number[];
    image: number[];
  };
  outputs: Record<'denoiser' | 'draft_denoiser' | 'vae_encoder' | 'vae_decoder', number[][]>;
}
const reference = JSON.parse(
  readFileSync(path.join(root, 'test', 'fixtures', 'flowbot-emoji-reference.json'), 'utf8'),
) as Reference;
const LENGTH = 32;
const WIDTH = 384;

/** Largest difference, relative to the reference's largest magnitude (at least 1). */
function maxError(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / scale);
  return worst;
}

/** Values further from the reference than its fp16 rounding explains (half a spacing, plus 1e-5). */
function beyondFp16Rounding(actual: ArrayLike<number>, expected: readonly number[]): number {
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(expected[i]!);
    const halfSpacing = e > 6.1e-5 ? 2 ** (Math.floor(Math.log2(e)) - 11) : 2 ** -25;
    if (Math.abs(actual[i]! - expected[i]!) > halfSpacing + 1e-5) count++;
  }
  return count;
}

/** The denoiser at `file` on the reference inputs (three prompts' conditioning at three timesteps). */
async function denoise(file: string): Promise<Float32Array> {
  const model = await backend.load(file);
  const { inputs } = reference;
  const out = await model.run({
    sample: { data: Float32Array.from(inputs.sample), dims: [3, 4, 16, 16] },
    timestep: { data: Float32Array.from(inputs.timestep), dims: [3] },
    encoder_hidden_states: {
      data: Float32Array.from(inputs.encoder_hidden_states),
      dims: [3, LENGTH, WIDTH],
    },
    pooled_projections: { data: Float32Array.from(inputs.pooled_projections), dims: [3, WIDTH] },
  });
  return out.out_sample!.data as Float32Array;
}

describe('flowbot-emoji v3', () => {
  it('reads its manifest: MiniLM text side from the sibling folder, a draft denoiser, 64×64', () => {
    expect(spec).toMatchObject({
      family: 'flowbot',
      flow: true,
      nativeSize: { width: 64, height: 64 },
      sizeMultiple: 16,
      latent: { channels: 4, downscale: 4 },
      defaults: { steps: 8, draftSteps: 2, guidance: 4, draftGuidance: 1 },
      files: {
        textEncoder: path.join(root, 'models', 'minilm-l6', 'encoder.onnx'),
        denoiser: path.join(dir, 'denoiser.onnx'),
        draftDenoiser: path.join(dir, 'draft_denoiser.onnx'),
      },
      tokenizers: {
        tokenizer: {
          kind: 'json',
          file: path.join(root, 'models', 'minilm-l6', 'tokenizer.json'),
          maxLength: 32,
          pad: 0,
        },
      },
      options: { sentenceEncoder: true },
    });
    expect(spec.license).toMatch(/^Apache-2\.0/);
    for (const file of Object.values(spec.files)) if (file) expect(existsSync(file)).toBe(true);
    // Both licences travel with the weights: the model's own, and the text encoder's in its folder.
    expect(readFileSync(path.join(dir, 'LICENSE'), 'utf8')).toMatch(/draft_denoiser\.onnx[\s\S]*Apache/);
    expect(readFileSync(path.join(root, 'models', 'minilm-l6', 'LICENSE'), 'utf8')).toMatch(/Apache/);
  });

  it('fits the size budget: its folder and the encoder folder it reads, 60 MB in all', () => {
    // Every file a host copies for the shipped model: its own folder and the sibling encoder folder.
    const bytesIn = (folder: string) =>
      readdirSync(folder).reduce((sum, name) => sum + statSync(path.join(folder, name)).size, 0);
    const total = bytesIn(dir) + bytesIn(path.dirname(spec.files.textEncoder));
    expect(total).toBeLessThanOrEqual(60_000_000);
  });

  it('tokenizes as the Python recipe: [CLS] … [SEP], cut to 32 keeping [SEP] last', () => {
    const tokenizer = new TextEncoders(backend).tokenizer(spec.tokenizers.tokenizer);
    expect(reference.prompts.map((prompt) => tokenizer.tokens(prompt))).toEqual(reference.input_ids);
    const long = tokenizer.tokens('a very long prompt about a cat '.repeat(10));
    expect(long).toHaveLength(32);
    expect([long[0], long[31]]).toEqual([101, 102]);
    expect(tokenizer.tokens('(grinning:1.3) face')).toEqual(tokenizer.tokens('grinning face'));
  });

  it('encodes prompts as the Python recipe: token states, zero rows after the text, the sentence', async () => {
    const text = new TextEncoders(backend);
    const family = familyOf(spec);
    let states = 0;
    let pooled = 0;
    for (const [k, prompt] of reference.prompts.entries()) {
      const { cond, uncond } = await family.encodePrompt(text, spec, prompt, '', false);
      expect(uncond).toBeUndefined();
      expect(cond.encoder_hidden_states!.dims).toEqual([1, LENGTH, WIDTH]);
      expect(cond.pooled_projections!.dims).toEqual([1, WIDTH]);
      const hidden = cond.encoder_hidden_states!.data as Float32Array;
      const rows = reference.input_ids[k]!.length;
      expect(hidden.subarray(rows * WIDTH).every((v) => v === 0)).toBe(true);
      const size = LENGTH * WIDTH;
      const expected = reference.inputs.encoder_hidden_states.slice(k * size, (k + 1) * size);
      states = Math.max(states, maxError(hidden, expected));
      expect(beyondFp16Rounding(hidden, expected)).toBe(0);
      const sentence = reference.inputs.pooled_projections.slice(k * WIDTH, (k + 1) * WIDTH);
      pooled = Math.max(pooled, maxError(cond.pooled_projections!.data as Float32Array, sentence));
    }
    // The reference states were stored in fp16: measured 2.5e-4 of the largest magnitude (1.4e-3 on
    // values up to 6.3, where fp16's spacing is 3.9e-3); the sentences are stored in fp32 (measured 0).
    expect(states).toBeLessThan(1e-3);
    expect(pooled).toBeLessThan(1e-5);
  });

  it('runs the negative prompt through the same encoder when guided', async () => {
    const { uncond } = await familyOf(spec).encodePrompt(new TextEncoders(backend), spec, 'a cat', '', true);
    const size = LENGTH * WIDTH;
    const empty = reference.prompts.indexOf('');
    const expected = reference.inputs.encoder_hidden_states.slice(empty * size, (empty + 1) * size);
    expect(maxError(uncond!.encoder_hidden_states!.data as Float32Array, expected)).toBeLessThan(1e-3);
  });

  it('matches the export within 1e-4: denoiser, draft denoiser, VAE encoder and decoder', async () => {
    expect(maxError(await denoise(spec.files.denoiser), reference.outputs.denoiser[0]!)).toBeLessThan(1e-4);
    expect(
      maxError(await denoise(spec.files.draftDenoiser!), reference.outputs.draft_denoiser[0]!),
    ).toBeLessThan(1e-4);

    const encoder = await backend.load(spec.files.vaeEncoder!);
    const latents = await encoder.run({
      sample: { data: Float32Array.from(reference.inputs.image), dims: [1, 3, 64, 64] },
    });
    expect(
      maxError(latents.latent_parameters!.data as Float32Array, reference.outputs.vae_encoder[0]!),
    ).toBeLessThan(1e-4);

    const decoder = await backend.load(spec.files.vaeDecoder);
    const sample = Float32Array.from(reference.inputs.sample.slice(0, 4 * 16 * 16));
    const pixels = await decoder.run({ latent_sample: { data: sample, dims: [1, 4, 16, 16] } });
    expect(maxError(pixels.sample!.data as Float32Array, reference.outputs.vae_decoder[0]!)).toBeLessThan(
      1e-4,
    );
  });

  it('generates the same 2×2 grid for the same seed', async () => {
    const pipeline = new Pipeline(backend);
    const request = { model: spec, prompt: 'grinning face in 3d style', seed: 11, n: 4 };
    const a = await pipeline.generate(request);
    const b = await pipeline.generate(request);
    expect(a.images).toHaveLength(4);
    expect(a.images[0]).toMatchObject({ width: 64, height: 64 });
    expect(a).toMatchObject({ steps: 8, guidance: 4, denoiser: 'denoiser.onnx' });
    for (let i = 0; i < 4; i++)
      expect(Buffer.from(a.images[i]!.pixels).equals(Buffer.from(b.images[i]!.pixels))).toBe(true);
  });

  it('drafts with the draft denoiser at its own guidance, deterministically', async () => {
    const pipeline = new Pipeline(backend);
    const request = { model: spec, prompt: 'a grinning face', seed: 5, n: 2, steps: 2, draft: true };
    const before = (await backend.load(spec.files.draftDenoiser!)).runs;
    const draft = await pipeline.generate(request);
    // Guidance 1 is no unconditional pass: one batch-2 run per step (the denoiser's batch is dynamic).
    expect((await backend.load(spec.files.draftDenoiser!)).runs - before).toBe(2);
    expect(draft).toMatchObject({
      steps: 2,
      guidance: draftDenoiser(spec)!.guidance,
      denoiser: 'draft_denoiser.onnx',
    });
    const again = await pipeline.generate(request);
    for (let i = 0; i < 2; i++)
      expect(Buffer.from(draft.images[i]!.pixels).equals(Buffer.from(again.images[i]!.pixels))).toBe(true);
  });
});
