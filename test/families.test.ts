import { copyFileSync, cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setLogSink } from '../src/log.js';
import { fromTensor } from '../src/pipeline/image.js';
import { loadModelSpec } from '../src/pipeline/model.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { fitLatentRgb } from '../src/pipeline/preview.js';
import { gaussianNoise } from '../src/pipeline/random.js';
import { loadTokenizer } from '../src/pipeline/tokenizers.js';
import { Vae } from '../src/pipeline/vae.js';
import { gradient, maxDiff } from './helpers/images.js';
import { tempDir } from './helpers/tmp.js';

const models = path.join(import.meta.dirname, 'fixtures/models');
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
const pipeline = new Pipeline(backend);
afterAll(() => backend.dispose());

interface ReferenceCase {
  model: string;
  /** fp16 exports are compared within float16's precision. */
  precision?: 'fp16';
  prompt: string;
  negative: string;
  guidance: number;
  steps: number;
  width: number;
  height: number;
  latents: number[];
  pixels: number[];
}

/**
 * Made by test/fixtures/make_family_fixtures.py: each "-exact" denoiser carries any latent to a target
 * that depends on every conditioning input, and the script combined and decoded those targets by
 * following diffusers' pipelines. A wrong encoder layer, padding, concatenation order, pooled vector,
 * time_ids, packing, img_ids, timestep scale, guidance formula or VAE scale/shift changes the image.
 */
const references = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'fixtures/family-reference.json'), 'utf8'),
) as { cases: ReferenceCase[] };

describe('family conventions match diffusers (closed-form denoisers)', () => {
  for (const c of references.cases) {
    const label = `${c.model}: "${c.prompt}" / "${c.negative}", guidance ${c.guidance}, ${c.width}×${c.height}`;
    it(label, async () => {
      const spec = loadModelSpec(path.join(models, c.model));
      const expected = fromTensor(Float32Array.from(c.pixels), c.width, c.height);
      const request = {
        model: spec,
        prompt: c.prompt,
        negativePrompt: c.negative,
        guidance: c.guidance,
        steps: c.steps,
        width: c.width,
        height: c.height,
      };
      let latents: Float32Array = new Float32Array();
      const result = await pipeline.generate(
        { ...request, seed: 1, n: 2 },
        { onLatents: (final) => (latents = final) },
      );
      expect(result.images[0]).toMatchObject({ width: c.width, height: c.height });
      for (let i = 0; i < 2; i++) {
        const image = latents.subarray(i * c.latents.length, (i + 1) * c.latents.length);
        const worst = Math.max(...c.latents.map((v, j) => Math.abs(image[j]! - v)));
        expect(worst, `latents of image ${i}`).toBeLessThan(c.precision === 'fp16' ? 1e-2 : 1e-4);
      }
      // The exact denoiser lands on its target whatever the noise: every seed gives the reference.
      for (const image of result.images)
        expect(maxDiff(image, expected)).toBeLessThanOrEqual(c.precision === 'fp16' ? 4 : 1);
    });
  }
});

const tiny = {
  sdxl: loadModelSpec(path.join(models, 'sdxl-tiny')),
  sd3: loadModelSpec(path.join(models, 'sd3-tiny')),
  'flux-schnell': loadModelSpec(path.join(models, 'flux-schnell-tiny')),
  'flux-dev': loadModelSpec(path.join(models, 'flux-dev-tiny')),
};

describe('model folders of each family', () => {
  it('detects the family and reads every width, scale and default from the configs', () => {
    expect(tiny.sdxl).toMatchObject({
      family: 'sdxl',
      flow: false,
      latent: { channels: 4, scale: 0.21, shift: 0 },
      nativeSize: { width: 128, height: 128 },
      sizeMultiple: 16,
      options: { forceZerosForEmptyPrompt: true },
    });
    expect(tiny.sdxl.tokenizers.tokenizer2).toMatchObject({ kind: 'clip', pad: '!', maxLength: 77 });
    expect(tiny.sd3).toMatchObject({
      family: 'sd3',
      flow: true,
      latent: { channels: 16, scale: 1.3, shift: 0.07 },
      sizeMultiple: 16,
      defaults: { steps: 28, guidance: 4.5 },
    });
    expect(tiny.sd3.tokenizers.tokenizer3).toMatchObject({ kind: 'json', maxLength: 256, pad: '<pad>' });
    expect(tiny['flux-schnell']).toMatchObject({
      family: 'flux',
      latent: { channels: 16, scale: 0.45, shift: 0.12 },
      defaults: { steps: 4, guidance: 0 },
      options: { guidanceEmbeds: false },
    });
    expect(tiny['flux-schnell'].tokenizers.tokenizer2).toMatchObject({ maxLength: 256 });
    expect(tiny['flux-dev']).toMatchObject({
      defaults: { steps: 28, guidance: 3.5 },
      options: { guidanceEmbeds: true },
    });
    expect(tiny['flux-dev'].tokenizers.tokenizer2).toMatchObject({ maxLength: 512 });
    // Weights kept as external data, under both names exporters use.
    expect(existsSync(path.join(models, 'flux-dev-tiny/transformer/model.onnx_data'))).toBe(true);
    expect(existsSync(path.join(models, 'sd3-tiny/transformer/model.onnx.data'))).toBe(true);
  });

  it('names the file and what was expected when a folder is broken', async () => {
    const t = tempDir();
    try {
      const copy = (name: string) => {
        const dir = path.join(t.dir, name);
        cpSync(path.join(models, name), dir, { recursive: true });
        return dir;
      };
      const sdxl = copy('sdxl-tiny');
      rmSync(path.join(sdxl, 'text_encoder_2/model.onnx'));
      expect(() => loadModelSpec(sdxl)).toThrow(/sdxl-tiny\/text_encoder_2\/model.onnx: missing/);
      // A UNet without SDXL's text_embeds and time_ids inputs.
      copyFileSync(
        path.join(models, 'sdxl-tiny/text_encoder/model.onnx'),
        path.join(sdxl, 'text_encoder_2/model.onnx'),
      );
      copyFileSync(path.join(models, 'sd-tiny/unet/model.onnx'), path.join(sdxl, 'unet/model.onnx'));
      const request = { prompt: 'a cat', seed: 1, steps: 1, width: 32, height: 32 };
      await expect(pipeline.generate({ ...request, model: loadModelSpec(sdxl) })).rejects.toThrow(
        /unet\/model.onnx: expected inputs sample, timestep, encoder_hidden_states, text_embeds but found sample, timestep, encoder_hidden_states/,
      );
      // A CLIP export without output_hidden_states.
      const sd3 = copy('sd3-tiny');
      copyFileSync(
        path.join(models, 'sd-tiny/text_encoder/model.onnx'),
        path.join(sd3, 'text_encoder/model.onnx'),
      );
      await expect(pipeline.generate({ ...request, model: loadModelSpec(sd3) })).rejects.toThrow(
        /sd3-tiny\/text_encoder\/model.onnx: expected outputs hidden_states.0 … hidden_states.N \(export it with output_hidden_states\) but found last_hidden_state, pooler_output/,
      );
      // A FLUX folder whose transformer lost its img_ids input (an SD3 transformer in its place).
      const fluxDir = copy('flux-schnell-tiny');
      cpSync(path.join(models, 'sd3-exact/transformer'), path.join(fluxDir, 'transformer'), {
        recursive: true,
      });
      await expect(pipeline.generate({ ...request, model: loadModelSpec(fluxDir) })).rejects.toThrow(
        /transformer\/model.onnx: expected inputs hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids but found hidden_states, encoder_hidden_states, pooled_projections, timestep/,
      );
      const noTokenizer = copy('flux-dev-tiny');
      rmSync(path.join(noTokenizer, 'tokenizer_2/tokenizer.json'));
      expect(() => loadModelSpec(noTokenizer)).toThrow(
        /tokenizer_2: missing a tokenizer: expected vocab.json and merges.txt, or tokenizer.json/,
      );
    } finally {
      t.cleanup();
    }
  });
});

describe('every operation on every family (random-weight folders)', () => {
  const source = gradient(64, 48);
  const mask = new Float32Array(64 * 48);
  for (let y = 8; y < 32; y++) for (let x = 16; x < 48; x++) mask[y * 64 + x] = 1;

  for (const [label, spec] of Object.entries(tiny)) {
    it(`${label}: generate, vary, inpaint and creative upscale`, async () => {
      const request = {
        model: spec,
        prompt: 'a red apple',
        negativePrompt: 'blurry',
        seed: 7,
        steps: 3,
        width: 64,
        height: 48,
      };
      const grid = await pipeline.generate({ ...request, n: 2 });
      expect(grid.images).toHaveLength(2);
      expect(grid.images[0]).toMatchObject({ width: 64, height: 48 });
      expect(maxDiff(grid.images[0]!, grid.images[1]!)).toBeGreaterThan(0);
      const again = await new Pipeline(new OnnxBackend({ executionProvider: 'cpu', threads: 1 })).generate({
        ...request,
        n: 2,
      });
      expect(Buffer.from(again.images[1]!.pixels).equals(Buffer.from(grid.images[1]!.pixels))).toBe(true);
      // Cell 2 made alone: the same image, up to the rounding of a batch-of-1 matrix product.
      const cell = await pipeline.generate({ ...request, seed: 8, n: 1 });
      expect(maxDiff(cell.images[0]!, grid.images[1]!)).toBeLessThanOrEqual(1);

      const subtle = await pipeline.vary({ ...request, image: source, strength: 0.3 });
      const strong = await pipeline.vary({ ...request, image: source, strength: 0.9 });
      expect(subtle.images[0]).toMatchObject({ width: 64, height: 48 });
      expect(maxDiff(subtle.images[0]!, strong.images[0]!)).toBeGreaterThan(0);

      const painted = await pipeline.inpaint({ ...request, image: source, mask });
      expect(maxDiff(painted.images[0]!, source, (i) => mask[i] === 0)).toBe(0);
      expect(maxDiff(painted.images[0]!, source, (i) => mask[i] === 1)).toBeGreaterThan(0);

      const upscaled = await pipeline.upscale({
        image: gradient(32, 32),
        scale: 2,
        refine: { model: spec, prompt: 'sharp', seed: 1, steps: 4, strength: 0.5 },
      });
      expect(upscaled.images[0]).toMatchObject({ width: 64, height: 64 });
      expect(upscaled.scheduler).toMatch(/^lanczos\+/);
    });
  }

  it('previews 16-channel latents through factors fitted to the VAE', async () => {
    const previews: Uint8Array[] = [];
    await pipeline.generate(
      { model: tiny.sd3, prompt: 'a cat', seed: 2, steps: 3, width: 64, height: 48, n: 2 },
      { previewEvery: 1, onProgress: (p) => p.preview && previews.push(p.preview) },
    );
    expect(previews).toHaveLength(2);
    expect(Buffer.from(previews[0]!.subarray(1, 4)).toString()).toBe('PNG');
  });
});

describe('pieces', () => {
  it('tokenizes T5 from tokenizer.json: whole words, </s> last, padded with <pad>, truncated keeping </s>', () => {
    const dir = path.join(models, 'sd3-tiny/tokenizer_3');
    const json = JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as {
      model: { vocab: [string, number][] };
    };
    const id = (piece: string) => json.model.vocab.findIndex(([p]) => p === piece);
    const spec = {
      kind: 'json',
      file: path.join(dir, 'tokenizer.json'),
      config: undefined,
      maxLength: 8,
      pad: '<pad>',
    } as const;
    const tokenizer = loadTokenizer(spec);
    expect(Array.from(tokenizer.ids('a red  apple'))).toEqual([
      id('▁a'),
      id('▁red'),
      id('▁apple'),
      1,
      0,
      0,
      0,
      0,
    ]);
    const long = tokenizer.ids('a red apple on a table under the moon');
    expect(long).toHaveLength(8);
    expect(long[7]).toBe(1);
    expect(long[6]).toBe(id('▁under'));
  });

  it('decodes and encodes large images in tiles that match the whole image', async () => {
    const spec = tiny.sd3;
    const whole = new Vae(backend, { tile: 0 });
    const tiled = new Vae(backend, { tile: 64 });
    const h = 24;
    const w = 32;
    const latents = Float32Array.from({ length: 16 * h * w }, (_, i) => Math.sin(i * 0.37) * 0.8);
    const a = await whole.decode(spec, latents, h, w);
    const b = await tiled.decode(spec, latents, h, w);
    expect(b).toHaveLength(a.length);
    let worst = 0;
    let total = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      worst = Math.max(worst, d);
      total += d;
    }
    expect(total / a.length).toBeLessThan(0.01);
    expect(worst).toBeLessThan(0.15);
    const image = Float32Array.from({ length: 3 * 8 * h * 8 * w }, (_, i) => Math.cos(i * 0.001));
    const za = await whole.encode(spec, image, 8 * w, 8 * h);
    const zb = await tiled.encode(spec, image, 8 * w, 8 * h);
    expect(zb).toHaveLength(za.length);
    const meanDiff = za.reduce((s, v, i) => s + Math.abs(v - zb[i]!), 0) / za.length;
    expect(meanDiff).toBeLessThan(0.05);
  });

  it('fits a latent → RGB map exactly when the decoder is linear', () => {
    const channels = 16;
    const plane = 64;
    const latents = gaussianNoise(3, channels * plane);
    const truth = Array.from({ length: channels }, (_, c) => [0.1 * c - 0.5, 0.03 * c, -0.02 * c + 0.1]);
    const bias = [0.2, -0.1, 0.05];
    const rgb = new Float32Array(3 * plane);
    for (let k = 0; k < 3; k++)
      for (let p = 0; p < plane; p++) {
        let v = bias[k]!;
        for (let c = 0; c < channels; c++) v += truth[c]![k]! * latents[c * plane + p]!;
        rgb[k * plane + p] = v;
      }
    const fitted = fitLatentRgb(latents, rgb, channels, plane);
    for (let c = 0; c < channels; c++)
      for (let k = 0; k < 3; k++) expect(fitted.weights[c]![k]).toBeCloseTo(truth[c]![k]!, 2);
    for (let k = 0; k < 3; k++) expect(fitted.bias[k]).toBeCloseTo(bias[k]!, 2);
  });

  it('falls back to the CPU with one log line when WebGPU has no adapter', async () => {
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    try {
      const gpu = new OnnxBackend({ executionProvider: 'webgpu', threads: 1 });
      const result = await new Pipeline(gpu).generate({
        model: tiny['flux-schnell'],
        prompt: 'a cat',
        seed: 1,
        steps: 2,
        width: 32,
        height: 32,
      });
      expect(result.images).toHaveLength(1);
      // This machine has no Vulkan driver Dawn can use; a GPU host keeps webgpu.
      if (gpu.executionProvider === 'cpu') {
        expect(lines.filter((l) => l.includes('no WebGPU adapter was found'))).toHaveLength(1);
      }
      await gpu.dispose();
    } finally {
      setLogSink((line) => process.stderr.write(`${line}\n`));
    }
  });
});
