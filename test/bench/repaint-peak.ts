/**
 * One repaint of an image of a given size, in a fresh process, printing its figures as JSON. Run by
 * `npm run bench -- repaint` (test/bench/repaint.ts):
 *
 *   node --expose-gc --import tsx test/bench/repaint-peak.ts <modelsDir> <model> <upscaler> <kind> <width> <height>
 *
 * `kind` is `variation` ("make it night") or `inpaint` (a region). The model's sessions are loaded by a
 * first repaint at the model's own size; the figures are those of the second, at the given size: its
 * time, the rise of the process's peak RSS, and what the gate estimates for it.
 */

import { createCompute } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { estimateBringBackMB, estimatePeakMB } from '../../src/pipeline/budget.js';
import { encodePng, type RgbImage } from '../../src/pipeline/image.js';
import { repaintPlan } from '../../src/pipeline/work-size.js';
import { computeWork } from '../../src/work/compute.js';
import type { WorkOrder } from '../../src/work/order.js';
import { watchPeakRss } from '../helpers/memory.js';

const [modelsDir, model, upscaler, kind, width, height] = process.argv.slice(2);
if (!height || (kind !== 'variation' && kind !== 'inpaint'))
  throw new Error('usage: repaint-peak.ts <modelsDir> <model> <upscaler> variation|inpaint <width> <height>');

const config = loadConfig({
  env: { MODELS_DIR: modelsDir!, MODEL: model!, UPSCALER: upscaler!, LOG_LEVEL: 'error' },
});
const compute = createCompute(config, { threads: 2 });
const spec = compute.models.get(model!);

/** A smooth picture with some detail, so the upscaler and the resampling have work to do. */
function picture(w: number, h: number): RgbImage {
  const pixels = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      pixels[i] = 128 + 100 * Math.sin((x * 12) / w);
      pixels[i + 1] = (y * 255) / h;
      pixels[i + 2] = 128 + 100 * Math.cos(((x + y) * 9) / (w + h));
    }
  return { width: w, height: h, pixels };
}

/** The top-left quarter, as a mask PNG. */
async function quarterMask(w: number, h: number): Promise<Buffer> {
  const pixels = new Uint8Array(w * h * 3);
  for (let y = 0; y < h / 2; y++) pixels.fill(255, y * w * 3, (y * w + Math.floor(w / 2)) * 3);
  return encodePng({ width: w, height: h, pixels });
}

async function order(w: number, h: number): Promise<WorkOrder> {
  const parent = {
    id: 'p',
    width: w,
    height: h,
    prompt: 'a lighthouse at dusk',
    negativePrompt: '',
    model: model!,
  };
  const prompted = {
    explanation: '',
    prompt: 'a lighthouse at dusk, night',
    negativePrompt: '',
    seed: 7,
    steps: spec.defaults.steps,
    guidance: spec.defaults.guidance,
    model: model!,
    parentId: 'p',
  };
  const base = {
    jobId: 'bench',
    model: model!,
    previewEvery: 0,
    parent,
    image: await encodePng(picture(w, h)),
  };
  return kind === 'variation'
    ? { ...base, kind, params: { ...prompted, strength: 0.55, n: 1 } }
    : { ...base, kind: 'inpaint', params: { ...prompted, maskId: 'm' }, mask: await quarterMask(w, h) };
}

const context = { signal: new AbortController().signal, reportProgress: () => {} };
const [w, h] = [Number(width), Number(height)];
const plan = repaintPlan(spec, { width: w, height: h });
// Loads the sessions (and warms them) at the work size, so the figures are the repaint's own.
await computeWork(await order(plan.work.width, plan.work.height), compute, context);
const measured = await order(w, h);
globalThis.gc?.();
const peak = watchPeakRss();
const started = performance.now();
const result = await computeWork(measured, compute, context);
const ms = performance.now() - started;
const risenMB = peak();
const made = result.images[0]!;
const estimateMB =
  estimatePeakMB(spec, { ...plan.work, batch: 1, guided: spec.defaults.guidance > 1 }) +
  (plan.broughtBack ? estimateBringBackMB(w, h, 1, kind === 'inpaint') : 0);
console.log(
  JSON.stringify({
    ms: Math.round(ms),
    peakRiseMB: Math.round(risenMB),
    estimateMB,
    work: `${plan.work.width}×${plan.work.height}`,
    result: `${made.width}×${made.height}`,
  }),
);
