import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxBackend } from '../src/pipeline/onnx.js';

const root = path.resolve(import.meta.dirname, '..');

/**
 * The shipped upscalers reproduce their original networks: the ESRGAN conversions (checked in NumPy at
 * conversion time) and emoji-sr (its PyTorch network, written by models/recipe/train_sr.py at export).
 */
describe.each(['esrgan-slim', 'esrgan-medium', 'emoji-sr'])('%s', (folder) => {
  const fixture = path.join(root, 'test', 'fixtures', `${folder}-reference.json`);
  const model = path.join(root, 'models', folder, 'model.onnx');

  it('onnxruntime-node matches the reference outputs within 1e-4', async () => {
    expect(existsSync(model)).toBe(true);
    const reference = JSON.parse(readFileSync(fixture, 'utf8')) as {
      input_nchw: number[];
      dims: number[];
      output_nchw: number[];
      output_dims: number[];
    };
    const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
    const session = await backend.load(model);
    const out = await session.run({
      input: { data: Float32Array.from(reference.input_nchw), dims: reference.dims },
    });
    const output = out.output!;
    expect(output.dims).toEqual(reference.output_dims);
    const peak = Math.max(1, ...reference.output_nchw.map(Math.abs));
    let worst = 0;
    (output.data as Float32Array).forEach((value, i) => {
      worst = Math.max(worst, Math.abs(value - reference.output_nchw[i]!) / peak);
    });
    expect(worst).toBeLessThan(1e-4);
    await backend.dispose();
  });
});
