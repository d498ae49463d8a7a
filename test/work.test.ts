/**
 * Work orders, as both the in-process path and the Redis workers use them: parameters checked with the
 * shared zod schemas, and results stored exactly once per job however often they arrive.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { UserError } from '../src/errors.js';
import { storeResult } from '../src/jobs.js';
import { encodePng } from '../src/pipeline/image.js';
import { computeWork } from '../src/work/compute.js';
import { checkResultCount, checkResultImage, expectedShape } from '../src/work/expected.js';
import { parseParams, type WorkOrder } from '../src/work/order.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { gradient } from './helpers/images.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir('flowbot-work-');
let core: Core;

beforeAll(() => {
  core = createCore(
    loadConfig({
      env: { DATA_DIR: t.dir, MODELS_DIR: FIXTURE_MODELS, MODEL: 'flow-tiny', LOG_LEVEL: 'error' },
    }),
    { threads: 1, previewEvery: 0 },
  );
  core.queue.recover();
});

afterAll(async () => {
  await core.close();
  t.cleanup();
});

const generate = {
  explanation: 'test',
  prompt: 'a red apple',
  negativePrompt: '',
  seed: 1,
  steps: 2,
  guidance: 3,
  width: 32,
  height: 32,
  n: 2,
  model: 'flow-tiny',
};

describe('work orders', () => {
  it('names the first wrong field of a job whose parameters do not fit', () => {
    expect(() => parseParams('generate', { ...generate, steps: 'many' })).toThrow(UserError);
    expect(() => parseParams('generate', { ...generate, steps: 'many' })).toThrow(/its steps is not valid/);
    expect(() =>
      parseParams('upscale', { explanation: '', parentId: 'abc', scale: 3, creative: true }),
    ).toThrow(/its scale is not valid/);
    expect(parseParams('generate', generate)).toEqual(generate);
  });

  it('fails an in-process job with malformed stored parameters with that message, before any work', async () => {
    const queued = core.queue.enqueue({ kind: 'generate', userId: 'u', params: { ...generate, n: 0 } });
    if (!queued.ok) throw queued.error;
    await core.queue.onIdle();
    const job = core.store.getJob(queued.value.job.id)!;
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^That generate job cannot run: its n is not valid/);
  });

  it('records a job delivered twice once: the second delivery replaces the first rows', async () => {
    const job = core.store.createJob({ kind: 'generate', userId: 'u', params: generate, priority: 0 });
    const result = {
      images: [gradient(32, 32), gradient(32, 32)],
      seeds: [1, 2],
      steps: 2,
      guidance: 3,
      scheduler: 'flow_euler',
    };
    const first = await storeResult(core, job, result);
    const second = await storeResult(core, job, result);
    expect(second.imageIds).toHaveLength(2);
    expect(second.gridId).not.toBeNull();
    const stored = core.store.imagesOfJob(job.id);
    expect(stored.map((image) => image.id).sort()).toEqual([...second.imageIds, second.gridId!].sort());
    expect(first.imageIds.some((id) => core.store.getImage(id))).toBe(false);
    expect(path.isAbsolute(core.files.resolve(stored[0]!.filePath))).toBe(true);
  });
});

describe('the shape of a result', () => {
  it('is what the pipeline makes for every kind, rounding and canvases included', async () => {
    // An odd-sized image (an upload, say), so that the model's rounding matters.
    const image = await encodePng(gradient(70, 45));
    const parent = {
      id: 'p',
      width: 70,
      height: 45,
      prompt: 'a red apple',
      negativePrompt: '',
      model: 'flow-tiny',
    };
    const recipe = { ...generate, steps: 1 };
    const { width: _w, height: _h, n: _n, ...prompted } = recipe;
    const fromParent = { model: 'flow-tiny', previewEvery: 0, parent, image };
    const orders: WorkOrder[] = [
      {
        jobId: 'g',
        kind: 'generate',
        model: 'flow-tiny',
        previewEvery: 0,
        params: { ...recipe, width: 60, height: 36 },
      },
      {
        jobId: 'v',
        kind: 'variation',
        ...fromParent,
        params: { ...prompted, parentId: 'p', strength: 0.5, n: 2 },
      },
      {
        jobId: 'i',
        kind: 'inpaint',
        ...fromParent,
        params: { ...prompted, parentId: 'p', maskId: 'm' },
        mask: await encodePng(gradient(70, 45)),
      },
      {
        jobId: 'o',
        kind: 'outpaint',
        ...fromParent,
        params: { ...prompted, parentId: 'p', outpaint: { kind: 'pan', direction: 'left' } },
      },
      {
        jobId: 'u',
        kind: 'upscale',
        ...fromParent,
        params: { explanation: '', parentId: 'p', scale: 2, creative: false, seed: 1 },
      },
      {
        jobId: 'c',
        kind: 'upscale',
        ...fromParent,
        params: { explanation: '', parentId: 'p', scale: 2, creative: true, seed: 1 },
      },
      {
        jobId: 'e-rotate',
        kind: 'edit',
        ...fromParent,
        params: { explanation: '', parentId: 'p', edit: { op: 'rotate', degrees: 90 } },
      },
      {
        jobId: 'e-crop',
        kind: 'edit',
        ...fromParent,
        params: { explanation: '', parentId: 'p', edit: { op: 'crop', aspect: { width: 1, height: 1 } } },
      },
      {
        jobId: 'e-mirror',
        kind: 'edit',
        ...fromParent,
        params: { explanation: '', parentId: 'p', edit: { op: 'mirror' } },
      },
    ];
    const shapes: Record<string, unknown> = {};
    for (const order of orders) {
      const result = await computeWork(order, core, {
        signal: new AbortController().signal,
        reportProgress: () => {},
      });
      const shape = expectedShape(order, core.models);
      checkResultCount(shape, result.images.length);
      for (const made of result.images) checkResultImage(shape, made);
      shapes[order.jobId] = shape;
    }
    expect(shapes).toEqual({
      g: { count: 2, width: 64, height: 40 },
      v: { count: 2, width: 72, height: 48 },
      i: { count: 1, width: 72, height: 48 },
      o: { count: 1, width: 104, height: 48 },
      u: { count: 1, width: 140, height: 90 },
      c: { count: 1, width: 144, height: 88 },
      'e-rotate': { count: 1, width: 45, height: 70 },
      'e-crop': { count: 1, width: 45, height: 45 },
      'e-mirror': { count: 1, width: 70, height: 45 },
    });
  });
});
