/**
 * Exact edits as jobs (issue 20, item 2): a large image's backdrop is found on a scaled-down copy before
 * the queue and painted exactly at full size in the job; an edit runs on a Redis worker like any job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBot } from '../commands/index.js';
import { createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { saveImage } from '../src/jobs.js';
import { encodePng, type RgbImage, readImage } from '../src/pipeline/image.js';
import { TestBot } from './helpers/bot.js';
import { SHIPPED_MODELS_DIR, WorkerProc } from './helpers/cluster.js';
import { gradient } from './helpers/images.js';
import { haveRedisServer, RedisServer } from './helpers/redis.js';
import { tempDir, waitFor } from './helpers/tmp.js';

/** An emoji as an upscale shows it: a disc on a plain backdrop. */
function emoji(side: number): RgbImage {
  const pixels = new Uint8Array(side * side * 3).fill(245);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++)
      if (Math.hypot(x - side / 2, y - side / 2) < side * 0.35) pixels.set([220, 40, 40], (y * side + x) * 3);
  return { width: side, height: side, pixels };
}

describe("a large image's backdrop", () => {
  const t = tempDir();
  let bot: TestBot;
  beforeAll(() => {
    bot = new TestBot(t.dir);
  });
  afterAll(async () => {
    await bot.close();
    t.cleanup();
  });

  it('is found on a scaled-down copy before the queue, and recoloured exactly at full size in the job', async () => {
    const side = 2048;
    const original = emoji(side);
    const image = await saveImage(bot.core, original, {
      operation: 'upscale',
      prompt: 'a red apple',
      negativePrompt: '',
      seed: 1,
      steps: 4,
      guidance: 3,
      scheduler: 'flow_euler',
      model: 'flow-tiny',
      parentId: null,
      userId: 'alice',
      cell: null,
    });
    const messageId = 'the-large-image';
    bot.core.store.recordChatMessage({ platform: 'web', channelId: 'general', messageId, imageId: image.id });
    bot.core.queue.setConcurrency(0);
    try {
      // What the chat process spends before the job is queued (it used to decode and analyse every pixel).
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 2);
      const [reply] = await bot.send({
        kind: 'reply',
        text: 'make the background blue',
        target: { channelId: 'general', messageId },
        ctx: bot.ctx('alice'),
      });
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      expect((peak - before) / 1e6).toBeLessThan(100);
      expect(reply?.type).toBe('queued');
      bot.core.queue.setConcurrency(1);
      await bot.core.queue.onIdle();
      const view = reply?.type === 'queued' ? bot.bot.resultView(reply.jobId) : undefined;
      const edited = await readImage(
        bot.core.files.resolve(bot.core.store.getImage(view!.imageId)!.filePath),
      );
      expect([...edited.pixels.subarray(0, 3)]).toEqual([40, 90, 220]);
      // Every pixel of the subject is kept.
      let changed = 0;
      for (let i = 0; i < original.pixels.length; i += 3)
        if (original.pixels[i] === 220)
          changed += Number(edited.pixels[i] !== 220 || edited.pixels[i + 1] !== 40);
      expect(changed).toBe(0);
    } finally {
      bot.core.queue.setConcurrency(1);
    }
  });
});

describe.skipIf(!haveRedisServer())('exact edits on Redis workers', () => {
  it('runs an edit on a worker, as a job, even for an image whose model no worker has', async () => {
    const dirs = tempDir('flowbot-edit-scale-');
    const redis = await RedisServer.start(dirs.dir);
    const env = { REDIS_URL: redis.url, MODELS_DIR: SHIPPED_MODELS_DIR, ONNX_THREADS: '1' };
    const worker = new WorkerProc(env);
    const core = createCore(
      loadConfig({ env: { ...env, DATA_DIR: dirs.dir, LOCAL_WORKER: '0', LOG_LEVEL: 'error' } }),
    );
    try {
      await worker.ready();
      const front = createBot(core);
      core.queue.recover();
      const original = gradient(64, 48);
      const file = await core.files.save('images', await encodePng(original));
      const image = core.store.insertImage({
        operation: 'generate',
        prompt: 'a gradient',
        negativePrompt: '',
        seed: 1,
        steps: 8,
        guidance: 4,
        scheduler: 'flow_euler',
        model: 'a-retired-model',
        width: 64,
        height: 48,
        filePath: file.relativePath,
        sha256: file.sha256,
        userId: 'alice',
        cell: null,
      });
      core.store.recordChatMessage({
        platform: 'web',
        channelId: 'general',
        messageId: 'm1',
        imageId: image.id,
      });
      await waitFor(() => core.cluster?.capacity === 1, 20_000, 'the worker counted');
      const [queued] = await front.handle({
        kind: 'reply',
        text: 'mirror',
        target: { channelId: 'general', messageId: 'm1' },
        ctx: { platform: 'web', userId: 'alice', channelId: 'general', isAdmin: false },
      });
      expect(queued?.type).toBe('queued');
      const jobId = queued?.type === 'queued' ? queued.jobId : '';
      await core.queue.onIdle();
      expect(core.store.getJob(jobId)?.state).toBe('succeeded');
      expect(worker.startedJobs).toContain(jobId);
      const edited = core.store.imagesOfJob(jobId)[0]!;
      expect(edited).toMatchObject({ operation: 'edit', parentId: image.id, model: 'a-retired-model' });
      const mirrored = await readImage(core.files.resolve(edited.filePath));
      for (let x = 0; x < 64; x++) expect(mirrored.pixels[x * 3]).toBe(original.pixels[(63 - x) * 3]);
    } finally {
      await core.close();
      await worker.kill('SIGKILL');
      await redis.stop();
      dirs.cleanup();
    }
  }, 90_000);
});
