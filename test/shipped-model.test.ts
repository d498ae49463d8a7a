/**
 * The shipped model: onnxruntime-node reproduces PyTorch's outputs on the same inputs (saved at export),
 * and the pipeline makes deterministic images with it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelSpec } from '../src/pipeline/model.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { Pipeline } from '../src/pipeline/pipeline.js';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'models', 'flowbot-emoji');
const spec = loadModelSpec(dir);
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
afterAll(() => backend.dispose());

interface Reference {
  inputs: { input_ids: number[][]; sample: number[]; timestep: number[]; image: number[] };
  outputs: Record<string, number[][]>;
}
const reference = JSON.parse(
  readFileSync(path.join(root, 'test', 'fixtures', 'flowbot-emoji-reference.json'), 'utf8'),
) as Reference;

function maxError(actual: ArrayLike<number>, expected: number[]): number {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / scale);
  return worst;
}

describe('flowbot-emoji', () => {
  it('matches PyTorch within 1e-4 for every component', async () => {
    const ids = Int32Array.from(reference.inputs.input_ids.flat());
    const text = await backend.load(spec.files.textEncoder);
    const encoded = await text.run({ input_ids: { data: ids, dims: [2, ids.length / 2] } });
    expect(
      maxError(encoded.last_hidden_state!.data as Float32Array, reference.outputs.text_encoder![0]!),
    ).toBeLessThan(1e-4);
    expect(
      maxError(encoded.pooler_output!.data as Float32Array, reference.outputs.text_encoder![1]!),
    ).toBeLessThan(1e-4);

    const hidden = encoded.last_hidden_state!;
    const sample = Float32Array.from(reference.inputs.sample);
    const denoiser = await backend.load(spec.files.denoiser);
    const velocity = await denoiser.run({
      sample: { data: sample, dims: [2, 4, 16, 16] },
      timestep: { data: Float32Array.from(reference.inputs.timestep), dims: [2] },
      encoder_hidden_states: hidden,
    });
    expect(maxError(velocity.out_sample!.data as Float32Array, reference.outputs.denoiser![0]!)).toBeLessThan(
      1e-4,
    );

    const encoder = await backend.load(spec.files.vaeEncoder!);
    const latents = await encoder.run({
      sample: { data: Float32Array.from(reference.inputs.image), dims: [1, 3, 64, 64] },
    });
    expect(
      maxError(latents.latent_parameters!.data as Float32Array, reference.outputs.vae_encoder![0]!),
    ).toBeLessThan(1e-4);

    const decoder = await backend.load(spec.files.vaeDecoder);
    const pixels = await decoder.run({
      latent_sample: { data: sample.subarray(0, 4 * 16 * 16), dims: [1, 4, 16, 16] },
    });
    expect(maxError(pixels.sample!.data as Float32Array, reference.outputs.vae_decoder![0]!)).toBeLessThan(
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
    for (let i = 0; i < 4; i++)
      expect(Buffer.from(a.images[i]!.pixels).equals(Buffer.from(b.images[i]!.pixels))).toBe(true);
    expect(spec).toMatchObject({ flow: true, defaults: { steps: 8 } });
  });
});
