/**
 * Issue 24, part 2, underneath the adapters: the size an edit works at for each shape, bringing its
 * result back, keeping the untouched pixels byte for byte, and work orders of an image larger than the
 * model paints (the same function runs in-process and on every Redis worker) giving the size their
 * result is checked against, the same bytes for the same seed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { maxArea } from '../src/pipeline/budget.js';
import { encodePng, type RgbImage } from '../src/pipeline/image.js';
import {
  creativeUpscalePlan,
  describePlan,
  keepUntouched,
  outpaintPlan,
  repaintPlan,
  resizeTo,
} from '../src/pipeline/work-size.js';
import { computeWork } from '../src/work/compute.js';
import { checkResultCount, checkResultImage, expectedShape } from '../src/work/expected.js';
import { checkJobLimits, type LimitedJob, workerLimits } from '../src/work/limits.js';
import type { WorkOrder } from '../src/work/order.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { gradient } from './helpers/images.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir('flowbot-work-size-');
let core: Core;

beforeAll(() => {
  core = createCore(
    loadConfig({
      env: {
        DATA_DIR: t.dir,
        MODELS_DIR: FIXTURE_MODELS,
        MODEL: 'flow-tiny',
        UPSCALER: 'sr-x4-tiny',
        LOG_LEVEL: 'error',
      },
    }),
    { threads: 1, previewEvery: 0 },
  );
});

afterAll(async () => {
  await core.close();
  t.cleanup();
});

const spec = () => core.models.get('flow-tiny');

describe('the size an edit works at', () => {
  it('is the image itself (rounded) when the model paints it, else the largest size of its shape', () => {
    // flow-tiny: 64² native, 128² (16,384 pixels) at most, sizes in multiples of 8.
    expect(maxArea(spec())).toBe(16_384);
    expect(repaintPlan(spec(), { width: 70, height: 45 })).toEqual({
      work: { width: 72, height: 48 },
      result: { width: 72, height: 48 },
      broughtBack: false,
    });
    const shapes = [
      [352, 192, 168, 88], // 16:9, an ×4 upscale
      [512, 512, 128, 128], // 1:1
      [192, 352, 88, 168], // 9:16
      [1024, 256, 256, 64], // 4:1
      [4096, 8, 2048, 8], // so thin the short side stays one multiple
    ] as const;
    for (const [width, height, workWidth, workHeight] of shapes) {
      const plan = repaintPlan(spec(), { width, height });
      expect(plan, `${width}×${height}`).toEqual({
        work: { width: workWidth, height: workHeight },
        result: { width, height },
        broughtBack: true,
      });
      expect((workWidth % 8) + (workHeight % 8)).toBe(0);
    }
    expect(describePlan(repaintPlan(spec(), { width: 352, height: 192 }))).toBe(
      'worked at 168×88 and brought back to 352×192',
    );
    expect(describePlan(repaintPlan(spec(), { width: 64, height: 64 }))).toBeUndefined();
  });

  it('outpaints the whole canvas at the model size and returns it at the image resolution', () => {
    const pan = outpaintPlan(spec(), { width: 352, height: 192 }, { kind: 'pan', direction: 'right' });
    expect(pan.result).toEqual({ width: 528, height: 192 });
    expect(pan.fullCanvas?.place).toEqual({ left: 0, top: 0, width: 352, height: 192 });
    expect(pan.work.width * pan.work.height).toBeLessThanOrEqual(16_384);
    const small = outpaintPlan(spec(), { width: 64, height: 64 }, { kind: 'zoom', factor: 2 });
    expect(small).toMatchObject({ broughtBack: false, result: { width: 64, height: 64 } });
    expect(creativeUpscalePlan(spec(), { width: 88, height: 48 }, 4)).toMatchObject({
      work: { width: 168, height: 88 },
      result: { width: 352, height: 192 },
    });
  });
});

describe('bringing a result back', () => {
  it('grows with the super-resolution model while it must grow by half its factor, and resamples the rest', async () => {
    const runs: number[] = [];
    const grower = (scale: 2 | 4) => ({
      scale,
      grow: async (image: RgbImage) => {
        runs.push(image.width);
        return gradient(image.width * scale, image.height * scale);
      },
    });
    const small = gradient(40, 20);
    expect(await resizeTo(small, { width: 40, height: 20 }, grower(4))).toBe(small);
    // A ×4 model: not for 1.9×, once (and averaged down) for 2×, twice from 160 to 960 (then resampled).
    expect(await resizeTo(small, { width: 76, height: 38 }, grower(4))).toMatchObject({
      width: 76,
      height: 38,
    });
    expect(runs).toEqual([]);
    expect(await resizeTo(small, { width: 80, height: 40 }, grower(4))).toMatchObject({
      width: 80,
      height: 40,
    });
    expect(runs).toEqual([40]);
    runs.length = 0;
    expect(await resizeTo(small, { width: 960, height: 480 }, grower(4))).toMatchObject({
      width: 960,
      height: 480,
    });
    expect(runs).toEqual([40, 160]);
    // A ×2 model from 1.5×; without a model, resampling alone.
    runs.length = 0;
    expect(await resizeTo(small, { width: 60, height: 30 }, grower(2))).toMatchObject({
      width: 60,
      height: 30,
    });
    expect(runs).toEqual([40]);
    expect(await resizeTo(small, { width: 960, height: 480 }, undefined)).toMatchObject({
      width: 960,
      height: 480,
    });
  });

  it('keeps every pixel outside the mask byte for byte, and takes the edit inside it', async () => {
    const [width, height] = [96, 64];
    const original = gradient(width, height);
    const edited = { width, height, pixels: new Uint8Array(width * height * 3).fill(7) };
    const mask = new Float32Array(width * height);
    for (let y = 0; y < 32; y++) mask.fill(1, y * width, y * width + 48);
    const kept = await keepUntouched(original, edited, mask);
    for (let i = 0; i < mask.length; i++) {
      const pixel = kept.pixels.subarray(3 * i, 3 * i + 3);
      if (mask[i] === 0) expect([...pixel]).toEqual([...original.pixels.subarray(3 * i, 3 * i + 3)]);
    }
    // Deep inside the mask the edit is all there is.
    expect([...kept.pixels.subarray(3 * (16 * width + 20), 3 * (16 * width + 20) + 3)]).toEqual([7, 7, 7]);
  });
});

describe('work orders of an image larger than the model paints', () => {
  const [width, height] = [300, 170];
  const parent = { id: 'p', width, height, prompt: 'a red apple', negativePrompt: '', model: 'flow-tiny' };
  const prompted = {
    explanation: 'test',
    prompt: 'a red apple at night',
    negativePrompt: '',
    seed: 5,
    steps: 1,
    guidance: 3,
    model: 'flow-tiny',
  };
  const context = { signal: new AbortController().signal, reportProgress: () => {} };
  const run = (order: WorkOrder) => computeWork(order, core, context);

  async function ordersFor(): Promise<WorkOrder[]> {
    const image = await encodePng(gradient(width, height));
    const base = { model: 'flow-tiny', previewEvery: 0, parent, image };
    const mask = new Uint8Array(width * height * 3);
    for (let y = 0; y < 60; y++) mask.fill(255, y * width * 3, (y * width + 100) * 3);
    return [
      {
        jobId: 'v',
        kind: 'variation',
        ...base,
        params: { ...prompted, parentId: 'p', strength: 0.55, n: 2 },
      },
      {
        jobId: 'i',
        kind: 'inpaint',
        ...base,
        params: { ...prompted, parentId: 'p', maskId: 'm' },
        mask: await encodePng({ width, height, pixels: mask }),
      },
      {
        jobId: 'o',
        kind: 'outpaint',
        ...base,
        params: { ...prompted, parentId: 'p', outpaint: { kind: 'pan', direction: 'left' } },
      },
      {
        jobId: 'c',
        kind: 'upscale',
        ...base,
        params: { explanation: '', parentId: 'p', scale: 2, creative: true, seed: 1 },
      },
    ];
  }

  it('pass the gate a worker applies, and come back at the size the front-end checks', async () => {
    const shapes: Record<string, unknown> = {};
    for (const order of await ordersFor()) {
      const job = { kind: order.kind, params: order.params } as LimitedJob;
      const limits = workerLimits({ memoryBudgetMB: 100_000, maxOutputSide: 4096 });
      expect(checkJobLimits(job, { models: core.models, startImage: () => parent }, limits)).toBeUndefined();
      const result = await run(order);
      const shape = expectedShape(order, core.models);
      checkResultCount(shape, result.images.length);
      for (const made of result.images) checkResultImage(shape, made);
      shapes[order.jobId] = shape;
    }
    expect(shapes).toEqual({
      v: { count: 2, width: 300, height: 170 },
      i: { count: 1, width: 300, height: 170 },
      o: { count: 1, width: 450, height: 170 },
      c: { count: 1, width: 600, height: 340 },
    });
  });

  it('are refused beyond the output limit, and over the memory budget with the bring-back counted', async () => {
    const [variation, , pan] = await ordersFor();
    const sources = { models: core.models, startImage: () => parent };
    const tight = workerLimits({ memoryBudgetMB: 100_000, maxOutputSide: 400 });
    expect(checkJobLimits(pan as LimitedJob, sources, tight)?.message).toBe(
      'Panned left would make an image of 450×170; images here can be at most 400 px a side.',
    );
    const edit = variation as LimitedJob;
    expect(checkJobLimits(edit, sources, tight)).toBeUndefined();
    const small = workerLimits({ memoryBudgetMB: 5, maxOutputSide: 4096 });
    expect(checkJobLimits(edit, sources, small)?.message).toMatch(
      /^Editing this 300×170 image with flow-tiny needs about \d+ MB, more than this server's 5 MB budget\.$/,
    );
  });

  it('give the same bytes for the same seed', async () => {
    const [variation] = await ordersFor();
    const first = await run(variation!);
    const second = await run(variation!);
    expect(Buffer.from(first.images[0]!.pixels).equals(Buffer.from(second.images[0]!.pixels))).toBe(true);
  });
});
