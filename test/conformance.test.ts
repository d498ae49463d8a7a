/**
 * Conformance with diffusers itself: folders written by optimum's own ONNX exporter, and diffusers' own
 * pipelines (PyTorch, float32) as the reference for each case, both made by
 * test/conformance/make_conformance.py (`npm run conformance:make`). flowbot runs each case on the
 * exported folder with the initial noise diffusers used, fed in through the `initialNoise` hook.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setLogSink } from '../src/log.js';
import { readImage } from '../src/pipeline/image.js';
import { loadModelSpec } from '../src/pipeline/model.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { schedulerFor } from '../src/pipeline/recipe.js';
import type { SchedulerName } from '../src/prompt/params.js';
import { wireResultSchema } from '../src/work/order.js';
import { maxDiff } from './helpers/images.js';
import { tempDir } from './helpers/tmp.js';

const root = path.join(import.meta.dirname, 'conformance');
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
const pipeline = new Pipeline(backend);
afterAll(() => backend.dispose());

interface ConformanceCase {
  id: string;
  operation: 'generate' | 'vary' | 'inpaint';
  prompt: string;
  negative: string;
  steps: number;
  guidance: number;
  strength?: number;
  width: number;
  height: number;
  scheduler: string;
  /** A flowbot --scheduler name instead of the folder's own scheduler. */
  scheduler_name?: SchedulerName;
  noise: number[];
  /** The noise a stochastic scheduler drew, one array per step that used it. */
  step_noise: number[][];
  latents: number[];
  pixels: string;
  /**
   * Where diffusers' pipeline decodes differently from its own text-to-image pipeline: the image that
   * decode makes of the same final latents (see DIFFERENCES).
   */
  decoded_as_text_to_image?: string;
  /** The second reference: optimum's ORT pipeline on the same folder with the same noise. */
  ort_pipeline: string | null;
  ort_latents?: number[];
  /** How far optimum's ORT pipeline lands from diffusers (relative, on the final latents). */
  ort_vs_diffusers?: number;
  /** Why there is no ORT reference (optimum-onnx has no such pipeline). */
  ort_missing?: string;
}

/** Where flowbot deliberately differs from a diffusers pipeline, and why. */
const DIFFERENCES: Record<string, string> = {
  ort_timestep_spacing:
    "optimum's export writes every scheduler default into scheduler_config.json, so its ORT pipeline, " +
    "converting SD 1.5's PNDM config to Euler or DPM++, keeps PNDM's 'leading' spacing; diffusers on the " +
    "original checkpoint (no timestep_spacing there) uses the new class's own 'linspace'. flowbot follows diffusers.",
  decoded_as_text_to_image:
    "diffusers 0.39's StableDiffusion3InpaintPipeline decodes latents / scaling_factor without adding the " +
    "VAE's shift_factor, which its text-to-image and img2img pipelines add; flowbot decodes every SD3 image " +
    'the same way, so its inpainting matches the text-to-image decode of the same latents.',
};

interface Reference {
  folder: string;
  versions: Record<string, string>;
  cases: ConformanceCase[];
}

const FOLDERS = [
  'sd15',
  'sd2-v',
  'sd15-inpainting',
  'sdxl',
  'sdxl-inpainting',
  'sd-turbo',
  'sd3',
  'flux-schnell',
  'flux-dev',
];

function reference(folder: string): Reference {
  return JSON.parse(readFileSync(path.join(root, 'references', `${folder}.json`), 'utf8')) as Reference;
}

/** The largest difference relative to the reference's largest magnitude. */
function relativeError(actual: Float32Array, expected: readonly number[]): number {
  const scale = Math.max(...expected.map(Math.abs));
  return Math.max(...expected.map((v, i) => Math.abs(actual[i]! - v))) / scale;
}

/** The repaint mask as the pipeline takes it (1 = repaint). */
async function inpaintMask(width: number, height: number): Promise<Float32Array> {
  const mask = await readImage(path.join(root, 'references', 'mask.png'));
  return Float32Array.from({ length: width * height }, (_, i) => (mask.pixels[i * 3]! >= 128 ? 1 : 0));
}

/**
 * Pixels at least `margin` pixels inside the repainted block. flowbot copies everything outside the
 * mask from the original and feathers the edge inwards (so an edit never touches what was not asked);
 * diffusers returns the decoded image as it is. Inside, both are the decoder's output.
 */
function deepInside(mask: Float32Array, width: number, margin: number): (pixel: number) => boolean {
  return (pixel) => {
    const x = pixel % width;
    const y = Math.floor(pixel / width);
    for (let dy = -margin; dy <= margin; dy++)
      for (let dx = -margin; dx <= margin; dx++) if (mask[(y + dy) * width + x + dx] !== 1) return false;
    return true;
  };
}

async function runCase(folder: string, c: ConformanceCase) {
  const spec = loadModelSpec(path.join(root, 'models', folder));
  let latents: Float32Array = new Float32Array();
  const hooks = {
    initialNoise: () => Float32Array.from(c.noise),
    // LCM draws none on its last step; flowbot's LCM ignores what it is given there.
    stepNoise: (step: number, length: number) =>
      Float32Array.from(c.step_noise[step] ?? new Array(length).fill(0)),
    onLatents: (final: Float32Array) => (latents = final),
  };
  const request = {
    model: spec,
    prompt: c.prompt,
    negativePrompt: c.negative,
    steps: c.steps,
    guidance: c.guidance,
    seed: 0,
    n: 1,
    ...(c.scheduler_name ? { scheduler: schedulerFor(spec, c.scheduler_name) } : {}),
  };
  const source = await readImage(path.join(root, 'references', 'source.png'));
  let result: Awaited<ReturnType<Pipeline['generate']>>;
  let mask: Float32Array | undefined;
  if (c.operation === 'generate')
    result = await pipeline.generate({ ...request, width: c.width, height: c.height }, hooks);
  else if (c.operation === 'vary')
    result = await pipeline.vary({ ...request, image: source, strength: c.strength! }, hooks);
  else {
    mask = await inpaintMask(c.width, c.height);
    result = await pipeline.inpaint({ ...request, image: source, mask, strength: c.strength! }, hooks);
  }
  return { result, latents, mask, source };
}

for (const folder of FOLDERS) {
  const ref = reference(folder);
  describe(`${folder} (optimum export) matches diffusers ${ref.versions.diffusers}`, () => {
    for (const c of ref.cases) {
      it(`${c.id}: ${c.operation}, ${c.scheduler}, ${c.width}×${c.height}, ${c.steps} steps`, async () => {
        const { result, latents, mask, source } = await runCase(folder, c);
        expect(result.scheduler, 'the folder’s own scheduler runs').toBe(c.scheduler);
        expect(relativeError(latents, c.latents), 'final latents').toBeLessThan(1e-3);
        // optimum's ORT pipeline: where it agrees with diffusers, flowbot agrees with it too.
        if (c.ort_latents && c.ort_vs_diffusers! < 1e-3)
          expect(relativeError(latents, c.ort_latents), `${c.ort_pipeline}'s final latents`).toBeLessThan(
            1e-3,
          );
        else if (c.ort_latents)
          expect(c.scheduler_name, DIFFERENCES.ort_timestep_spacing).toMatch(/^(euler|euler_a|dpmpp_2m)$/);
        else expect(c.ort_missing).toMatch(/can't find a pipeline linked to FluxPipeline/);
        const diffusersPixels = await readImage(path.join(root, 'references', c.pixels));
        let expected = diffusersPixels;
        if (c.decoded_as_text_to_image) {
          // DIFFERENCES.decoded_as_text_to_image: diffusers' own image is off by its VAE shift.
          expected = await readImage(path.join(root, 'references', c.decoded_as_text_to_image));
          expect(maxDiff(expected, diffusersPixels), DIFFERENCES.decoded_as_text_to_image).toBeGreaterThan(1);
        }
        const image = result.images[0]!;
        if (!mask) {
          expect(maxDiff(image, expected)).toBeLessThanOrEqual(1);
          return;
        }
        // Deliberate difference: flowbot keeps the unmasked pixels of the original exactly.
        expect(maxDiff(image, source, (p) => mask[p] === 0)).toBe(0);
        expect(maxDiff(image, expected, deepInside(mask, c.width, 4))).toBeLessThanOrEqual(1);
      });
    }
  });
}

/** Folders exported with optimum's fp16 option, checked against their fp32 folder's references. */
const FP16_FOLDERS: Record<string, string> = { 'sdxl-fp16': 'sdxl', 'flux-schnell-fp16': 'flux-schnell' };

for (const [folder, fp32] of Object.entries(FP16_FOLDERS)) {
  describe(`${folder} (optimum --dtype fp16) matches diffusers' float32 ${fp32}`, () => {
    for (const c of reference(fp32).cases.filter((c) => c.operation === 'generate')) {
      it(`${c.id}: within float16's precision`, async () => {
        const { result, latents } = await runCase(folder, c);
        expect(relativeError(latents, c.latents), 'final latents').toBeLessThan(1e-2);
        const expected = await readImage(path.join(root, 'references', c.pixels));
        expect(maxDiff(result.images[0]!, expected)).toBeLessThanOrEqual(4);
      });
    }
  });
}

describe('a scheduler flowbot does not implement', () => {
  it('runs Euler in its place and says so in the log and the result', async () => {
    const temp = tempDir('conformance-');
    const dir = path.join(temp.dir, 'sd15-prk');
    cpSync(path.join(root, 'models', 'sd15'), dir, { recursive: true });
    const file = path.join(dir, 'scheduler', 'scheduler_config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...config, skip_prk_steps: false }));
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    try {
      const spec = loadModelSpec(dir);
      const result = await pipeline.generate({
        model: spec,
        prompt: 'a cat',
        seed: 1,
        steps: 2,
        width: 64,
        height: 64,
      });
      expect(result.scheduler).toBe('EulerDiscreteScheduler:for:PNDMScheduler+prk');
      // Results cross the Redis boundary: the name must pass its schema.
      expect(wireResultSchema.shape.scheduler.safeParse(result.scheduler).success).toBe(true);
      expect(lines.join('\n')).toMatch(
        /scheduler not implemented; using EulerDiscreteScheduler.*PNDMScheduler/,
      );
    } finally {
      setLogSink((line) => process.stderr.write(`${line}\n`));
      temp.cleanup();
    }
  });
});
