import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePng, type RgbImage, readImage } from '../src/pipeline/image.js';
import { loadModelSpec, loadUpscalerSpec } from '../src/pipeline/model.js';
import { fromFloat16, OnnxBackend, toFloat16 } from '../src/pipeline/onnx.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { addPngText, readPngText } from '../src/pipeline/png.js';
import { gaussianNoise } from '../src/pipeline/random.js';
import { gradient, maxDiff } from './helpers/images.js';
import { tempDir } from './helpers/tmp.js';

const models = path.join(import.meta.dirname, 'fixtures/models');
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
const pipeline = new Pipeline(backend);
const sd = loadModelSpec(path.join(models, 'sd-tiny'));
const sd16 = loadModelSpec(path.join(models, 'sd-tiny-fp16'));
const sdInpaint = loadModelSpec(path.join(models, 'sd-tiny-inpaint'));
const flow = loadModelSpec(path.join(models, 'flow-tiny'));
const sr = loadUpscalerSpec(path.join(models, 'sr-x4-tiny'));
const small = { width: 64, height: 64 };

afterAll(() => backend.dispose());

describe('model folders', () => {
  it('reads the optimum SD layout and flowbot manifests', () => {
    expect(sd).toMatchObject({
      format: 'diffusers-onnx',
      flow: false,
      latent: { channels: 4, scale: 0.18215 },
    });
    expect(sd.scheduler._class_name).toBe('PNDMScheduler'); // the folder's own (PLMS, as SD 1.x ships it)
    expect(flow).toMatchObject({
      format: 'flowbot',
      flow: true,
      nativeSize: { width: 64, height: 64 },
      latent: { scale: 0.5, shift: 0.1 },
      tokenizers: { tokenizer: { kind: 'clip' } },
      options: {},
    });
    // A manifest without `tokenizer.kind` is CLIP's BPE, as before WordPiece; it has no draft denoiser.
    expect(flow.files.draftDenoiser).toBeUndefined();
    expect(sr).toMatchObject({ scale: 4, inputScale: 1, tile: 64 });
  });

  it('names the file that is missing or broken', () => {
    const t = tempDir();
    try {
      expect(() => loadModelSpec(path.join(t.dir, 'nope'))).toThrow(/nope: model folder not found/);
      mkdirSync(path.join(t.dir, 'empty'));
      expect(() => loadModelSpec(path.join(t.dir, 'empty'))).toThrow(
        /neither model.json .* nor model_index.json/,
      );
      mkdirSync(path.join(t.dir, 'bad'));
      writeFileSync(path.join(t.dir, 'bad', 'model.json'), '{"format":"flowbot-model","version":1}');
      expect(() => loadModelSpec(path.join(t.dir, 'bad'))).toThrow(/bad\/model.json: name:/);
      // The tokenizer's kind says which files it needs; a component in a sibling folder is named when missing.
      const manifest = JSON.parse(readFileSync(path.join(models, 'flow-tiny', 'model.json'), 'utf8'));
      const wordpiece = (tokenizer: object, components = {}) => {
        mkdirSync(path.join(t.dir, 'wp'), { recursive: true });
        const m = { ...manifest, tokenizer, components: { ...manifest.components, ...components } };
        writeFileSync(path.join(t.dir, 'wp', 'model.json'), JSON.stringify(m));
        return () => loadModelSpec(path.join(t.dir, 'wp'));
      };
      expect(wordpiece({ kind: 'wordpiece', max_length: 32 })).toThrow(/wp\/model.json: tokenizer.file: /);
      expect(wordpiece({ kind: 'sentencepiece', file: 'x' })).toThrow(/wp\/model.json: tokenizer.kind: /);
      expect(
        wordpiece(
          { kind: 'wordpiece', file: '../minilm-l6/tokenizer.json' },
          { text_encoder: '../minilm-l6/encoder.onnx' },
        ),
      ).toThrow(/minilm-l6\/encoder.onnx: missing/);
      mkdirSync(path.join(t.dir, 'sd', 'scheduler'), { recursive: true });
      writeFileSync(path.join(t.dir, 'sd', 'model_index.json'), '{}');
      writeFileSync(
        path.join(t.dir, 'sd', 'scheduler', 'scheduler_config.json'),
        '{"_class_name":"DDIMScheduler"}',
      );
      expect(() => loadModelSpec(path.join(t.dir, 'sd'))).toThrow(/sd\/text_encoder\/model.onnx: missing/);
    } finally {
      t.cleanup();
    }
  });

  it('checks inputs against the model and says what was expected and received', async () => {
    const unet = await backend.load(sd.files.denoiser);
    await expect(unet.run({ sample: { data: new Float32Array(4), dims: [4] } })).rejects.toThrow(
      /unet\/model.onnx: input "sample" expected rank 4 \[batch, 4, height, width\] but received float32 \[4\]/,
    );
    const text = await backend.load(sd.files.textEncoder);
    await expect(text.run({ input_ids: { data: new Float32Array(77), dims: [1, 77] } })).rejects.toThrow(
      /input "input_ids" expected integer values \(as int32\) but received float32 \[1, 77\]/,
    );
    await expect(backend.load(path.join(models, 'missing.onnx'))).rejects.toThrow(
      /missing.onnx does not exist/,
    );
  });
});

describe('generate', () => {
  it('makes n images of the asked size, identical for the same seed', async () => {
    const request = {
      model: sd,
      prompt: 'a lighthouse at dusk',
      negativePrompt: 'fog',
      seed: 7,
      steps: 3,
      n: 4,
      ...small,
    };
    const first = await pipeline.generate(request);
    expect(first.images).toHaveLength(4);
    expect(first.seeds).toEqual([7, 8, 9, 10]);
    expect(first.images[0]).toMatchObject(small);
    const again = await new Pipeline(new OnnxBackend({ executionProvider: 'cpu', threads: 1 })).generate(
      request,
    );
    for (let i = 0; i < 4; i++)
      expect(Buffer.from(again.images[i]!.pixels).equals(Buffer.from(first.images[i]!.pixels))).toBe(true);
    expect(maxDiff(first.images[0]!, first.images[1]!)).toBeGreaterThan(0);
    const otherSeed = await pipeline.generate({ ...request, seed: 8, n: 1 });
    // Cell 1 of seed 7 is seed 8: the same image.
    expect(maxDiff(otherSeed.images[0]!, first.images[1]!)).toBe(0);
  });

  it('lets the negative prompt steer guidance, and skips it at guidance 1', async () => {
    const base = { model: sd, prompt: 'a red apple', seed: 3, steps: 2, ...small };
    const a = await pipeline.generate({ ...base, negativePrompt: 'green', guidance: 7 });
    const b = await pipeline.generate({ ...base, negativePrompt: 'blue sky', guidance: 7 });
    expect(maxDiff(a.images[0]!, b.images[0]!)).toBeGreaterThan(0);
    const c = await pipeline.generate({ ...base, negativePrompt: 'green', guidance: 1 });
    const d = await pipeline.generate({ ...base, negativePrompt: 'blue sky', guidance: 1 });
    expect(maxDiff(c.images[0]!, d.images[0]!)).toBe(0);
  });

  it('runs fp16 models with int64 ids and a float16 scalar timestep', async () => {
    const result = await pipeline.generate({
      model: sd16,
      prompt: 'a cat',
      seed: 1,
      steps: 2,
      n: 2,
      ...small,
    });
    expect(result.images).toHaveLength(2);
    expect(result.scheduler).toBe('EulerDiscreteScheduler');
    const again = await pipeline.generate({
      model: sd16,
      prompt: 'a cat',
      seed: 1,
      steps: 2,
      n: 2,
      ...small,
    });
    expect(maxDiff(result.images[1]!, again.images[1]!)).toBe(0);
  });

  it('runs a flow-matching model from its manifest, and every scheduler on SD', async () => {
    const result = await pipeline.generate({ model: flow, prompt: 'a smiling cat', seed: 5 });
    expect(result).toMatchObject({
      width: 64,
      height: 64,
      steps: 4,
      scheduler: 'FlowMatchEulerDiscreteScheduler',
    });
    for (const className of [
      'DDIMScheduler',
      'EulerAncestralDiscreteScheduler',
      'DPMSolverMultistepScheduler',
      'LCMScheduler',
    ]) {
      const out = await pipeline.generate({
        model: sd,
        prompt: 'x',
        seed: 2,
        steps: 2,
        ...small,
        scheduler: { ...sd.scheduler, _class_name: className },
      });
      expect(out.scheduler).toBe(className);
    }
  });

  it('reports progress with previews and stops when aborted', async () => {
    const seen: number[] = [];
    let previews = 0;
    await pipeline.generate(
      { model: flow, prompt: 'a dog', seed: 1, steps: 4, n: 2 },
      {
        previewEvery: 1,
        onProgress: (p) => {
          seen.push(p.step);
          if (p.preview) previews++;
        },
      },
    );
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(previews).toBe(3);
    const controller = new AbortController();
    const run = pipeline.generate(
      { model: flow, prompt: 'a dog', seed: 1, steps: 4 },
      {
        signal: controller.signal,
        onProgress: (p) => p.step === 1 && controller.abort(new Error('stop here')),
      },
    );
    await expect(run).rejects.toThrow('stop here');
  });

  it('varies by seed jitter (slerped noise)', async () => {
    const base = { model: flow, prompt: 'a cat', seed: 11 };
    const plain = await pipeline.generate(base);
    const near = await pipeline.generate({ ...base, jitter: { seed: 99, amount: 0.1 } });
    const far = await pipeline.generate({ ...base, jitter: { seed: 99, amount: 0.9 } });
    expect(maxDiff(plain.images[0]!, near.images[0]!)).toBeGreaterThan(0);
    const meanDiff = (a: RgbImage, b: RgbImage) =>
      a.pixels.reduce((s, v, i) => s + Math.abs(v - b.pixels[i]!), 0) / a.pixels.length;
    expect(meanDiff(plain.images[0]!, near.images[0]!)).toBeLessThan(
      meanDiff(plain.images[0]!, far.images[0]!),
    );
  });
});

describe('vary, inpaint, upscale', () => {
  const source = gradient(64, 64);

  it('varies an image, closer to it at low strength', async () => {
    const base = { model: sd, prompt: 'a gradient', seed: 4, steps: 10, image: source };
    const subtle = await pipeline.vary({ ...base, strength: 0.2 });
    const strong = await pipeline.vary({ ...base, strength: 0.9 });
    expect(subtle.images[0]).toMatchObject(small);
    const again = await pipeline.vary({ ...base, strength: 0.2 });
    expect(maxDiff(subtle.images[0]!, again.images[0]!)).toBe(0);
    expect(maxDiff(subtle.images[0]!, strong.images[0]!)).toBeGreaterThan(0);
    const flowVary = await pipeline.vary({ model: flow, prompt: 'x', seed: 1, image: source, strength: 0.5 });
    expect(flowVary.images[0]).toMatchObject(small);
  });

  const mask = new Float32Array(64 * 64);
  for (let y = 8; y < 40; y++) for (let x = 16; x < 48; x++) mask[y * 64 + x] = 1;

  for (const [label, model] of [
    ['blending (4-channel UNet)', sd],
    ['a native 9-channel UNet with a static batch', sdInpaint],
    ['a flow-matching model', flow],
  ] as const) {
    it(`inpaints with ${label}, leaving the unmasked region unchanged`, async () => {
      const result = await pipeline.inpaint({
        model,
        prompt: 'a bite mark',
        negativePrompt: 'blur',
        seed: 9,
        steps: 3,
        image: source,
        mask,
        guidance: 4,
      });
      const out = result.images[0]!;
      expect(maxDiff(out, source, (i) => mask[i] === 0)).toBe(0);
      expect(maxDiff(out, source, (i) => mask[i] === 1)).toBeGreaterThan(0);
    });
  }

  it('upscales over tiles without visible seams, and falls back to Lanczos', async () => {
    const image = gradient(80, 48);
    const whole = await pipeline.upscale({ image, scale: 4, upscaler: sr, tile: 128 });
    const tiled = await pipeline.upscale({ image, scale: 4, upscaler: sr, tile: 32 });
    expect(tiled.images[0]).toMatchObject({ width: 320, height: 192 });
    // Every output pixel comes from tile interiors, so tiling changes nothing beyond rounding.
    expect(maxDiff(whole.images[0]!, tiled.images[0]!)).toBeLessThanOrEqual(1);
    const two = await pipeline.upscale({ image, scale: 2, upscaler: sr, tile: 32 });
    expect(two.images[0]).toMatchObject({ width: 160, height: 96 });
    const lanczos = await pipeline.upscale({ image, scale: 2 });
    expect(lanczos).toMatchObject({ width: 160, height: 96, scheduler: 'lanczos' });
    const creative = await pipeline.upscale({
      image: gradient(32, 32),
      scale: 2,
      upscaler: sr,
      refine: { model: flow, prompt: 'sharp', seed: 1, strength: 0.3 },
    });
    expect(creative.images[0]).toMatchObject(small);
  });
});

describe('image files', () => {
  it('writes PNGs that carry their parameters', async () => {
    const png = await encodePng(gradient(8, 8), { parameters: 'a café --seed 7', flowbot: '{"seed":7}' });
    expect(readPngText(png)).toEqual({ parameters: 'a café --seed 7', flowbot: '{"seed":7}' });
    expect(readPngText(addPngText(png, { extra: 'x' })).extra).toBe('x');
    const decoded = await readImage(png);
    expect(decoded).toMatchObject({ width: 8, height: 8 });
  });

  it('rejects what is not an image with a friendly message', async () => {
    await expect(readImage(Buffer.from('not an image'))).rejects.toThrow(/not an image I can read/);
  });

  it('converts float16 both ways', () => {
    const values = Float32Array.from([0, 1, -2.5, 65504, 1e-5, 0.1, 1e6, -1e-8]);
    const back = fromFloat16(toFloat16(values));
    expect(Array.from(back.slice(0, 4))).toEqual([0, 1, -2.5, 65504]);
    expect(back[4]).toBeCloseTo(1e-5, 6);
    expect(back[5]).toBeCloseTo(0.1, 3);
    expect(back[6]).toBe(Number.POSITIVE_INFINITY);
  });

  it('draws the same noise for the same seed', () => {
    expect(gaussianNoise(42, 8)).toEqual(gaussianNoise(42, 8));
    expect(gaussianNoise(42, 8)).not.toEqual(gaussianNoise(43, 8));
    const many = gaussianNoise(1, 20000);
    const mean = many.reduce((a, b) => a + b, 0) / many.length;
    const variance = many.reduce((a, b) => a + (b - mean) ** 2, 0) / many.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});

describe('mask feathering', () => {
  it('keeps one value per pixel and feathers a thin stroke without losing it', async () => {
    const { blurMask } = await import('../src/pipeline/image.js');
    const mask = new Float32Array(64 * 64);
    for (let y = 30; y < 34; y++) for (let x = 20; x < 44; x++) mask[y * 64 + x] = 1;
    const feathered = await blurMask(mask, 64, 64, 1);
    expect(feathered).toHaveLength(64 * 64);
    expect(feathered[31 * 64 + 30]).toBeGreaterThan(0.5);
    expect(feathered[20 * 64 + 30]).toBe(0);
  });
});

describe('memory budget', () => {
  it('denoises n images in batches that fit MEMORY_BUDGET_MB, with the same images', async () => {
    const { estimatePeakMB } = await import('../src/pipeline/budget.js');
    const request = {
      model: flow,
      prompt: 'a cat',
      negativePrompt: 'dog',
      seed: 4,
      steps: 3,
      n: 4,
      guidance: 3,
    };
    const roomy = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
    const whole = await new Pipeline(roomy).generate(request);
    const oneAtATime = estimatePeakMB(flow, { width: 64, height: 64, batch: 1, guided: true });
    const tight = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
    const batched = await new Pipeline(tight, { memoryBudgetMB: oneAtATime }).generate(request);
    const runsOf = async (backend: OnnxBackend) => (await backend.load(flow.files.denoiser)).runs;
    // One run per step for all four images (prompt and negative together), against four.
    expect(await runsOf(roomy)).toBe(3);
    expect(await runsOf(tight)).toBe(12);
    for (let i = 0; i < 4; i++) expect(maxDiff(batched.images[i]!, whole.images[i]!)).toBeLessThanOrEqual(1);
    await roomy.dispose();
    await tight.dispose();
  });
});

describe('prompt weighting', () => {
  it('(word:w) scales that word in the CLIP embeddings: w = 1 is the plain prompt, other weights change the image', async () => {
    const { loadTokenizer } = await import('../src/pipeline/tokenizers.js');
    const tokenizer = loadTokenizer(flow.tokenizers.tokenizer);
    const plain = tokenizer.weighted('a red apple');
    const weighted = tokenizer.weighted('a (red:1.3) apple');
    expect(Array.from(weighted.ids)).toEqual(Array.from(plain.ids));
    expect(Array.from(weighted.weights.slice(0, 5)).map((w) => Math.round(w * 100) / 100)).toEqual([
      1, 1, 1.3, 1, 1,
    ]);
    expect(Array.from(tokenizer.ids('a (red:1.3) apple'))).toEqual(Array.from(plain.ids));
    const base = { model: flow, seed: 6, steps: 3 };
    const a = await pipeline.generate({ ...base, prompt: 'a red apple' });
    const same = await pipeline.generate({ ...base, prompt: 'a (red:1) apple' });
    const heavier = await pipeline.generate({ ...base, prompt: 'a (red:2.5) apple' });
    expect(maxDiff(same.images[0]!, a.images[0]!)).toBe(0);
    expect(maxDiff(heavier.images[0]!, a.images[0]!)).toBeGreaterThan(0);
  });
});
