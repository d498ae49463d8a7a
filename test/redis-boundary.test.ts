/**
 * The Redis boundary trusts nothing it reads: worker heartbeats are validated (a bad one is logged and
 * left out, never crashes the front-end), workers hold every job they take to the front-end's limits and
 * their own memory budget, results are checked against their request before anything is stored, and a
 * worker's error text never reaches chat: only known codes, in flowbot's own words. Everything hostile
 * is injected into a real `redis-server`, as someone with access to it could.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCompute, createCore } from '../src/app.js';
import { announceWorker, countWorkers, type WorkerInfo } from '../src/cluster/directory.js';
import { BlobStore, HEARTBEAT_TTL_MS, KEYS, queueNameFor } from '../src/cluster/redis.js';
import { ImageWorker } from '../src/cluster/worker.js';
import { loadConfig } from '../src/config.js';
import { encodePng } from '../src/pipeline/image.js';
import { LIMIT_CEILINGS } from '../src/work/limits.js';
import { Frontend, type Proc, SHIPPED_MODELS_DIR, shippedJob, WorkerProc } from './helpers/cluster.js';
import { gradient } from './helpers/images.js';
import { haveRedisServer, RedisServer } from './helpers/redis.js';
import { sleep, tempDir, waitFor } from './helpers/tmp.js';

const MODELS_DIR = SHIPPED_MODELS_DIR;
const MODEL = 'flowbot-emoji';

/** A well-formed generate order on the wire, as the front-end queues one, with `params` changed. */
function generateOrder(jobId: string, params: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    jobId,
    kind: 'generate',
    model: MODEL,
    previewEvery: 0,
    params: { ...shippedJob(1, 8, 64, 1), ...params },
  };
}

/** An order starting from an image: its record as the order claims it, and the blob key of its file. */
function orderFrom(
  jobId: string,
  kind: 'variation' | 'upscale',
  params: Record<string, unknown>,
  parent: { width: number; height: number },
  image: string,
): Record<string, unknown> {
  return {
    jobId,
    kind,
    model: MODEL,
    previewEvery: 0,
    params: { explanation: 'test', parentId: `parent-of-${jobId}`, ...params },
    parent: { id: `parent-of-${jobId}`, prompt: 'a red apple', negativePrompt: '', model: MODEL, ...parent },
    image,
  };
}

/** The peak resident memory of a process so far (Linux), in MB. */
function peakRssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

/** Puts a worker announcement into Redis exactly as given, as a hostile or broken worker could. */
async function injectHeartbeat(redis: Redis, id: string, description: string): Promise<void> {
  await redis
    .multi()
    .zadd(KEYS.workers, Date.now() + 10 * HEARTBEAT_TTL_MS, id)
    .hset(KEYS.workerInfo, id, description)
    .exec();
}

describe.skipIf(!haveRedisServer())('the Redis boundary', () => {
  let server: RedisServer;
  let dirs: { dir: string; cleanup: () => void };
  let redis: Redis;
  let procs: Proc[];

  beforeEach(async () => {
    dirs = tempDir('flowbot-boundary-');
    server = await RedisServer.start(dirs.dir);
    redis = new Redis(server.url);
    procs = [];
  });

  afterEach(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    redis.disconnect();
    await server.stop();
    dirs.cleanup();
  });

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    REDIS_URL: server.url,
    MODELS_DIR,
    ONNX_THREADS: '1',
    WORKER_LOCK_SECONDS: '5',
    MAX_JOBS_PER_USER: '10',
    ...extra,
  });
  const frontend = (extra: NodeJS.ProcessEnv = {}) => {
    const fe = new Frontend(env({ DATA_DIR: path.join(dirs.dir, 'data'), LOCAL_WORKER: '0', ...extra }));
    procs.push(fe);
    return fe;
  };
  const worker = async (extra: NodeJS.ProcessEnv = {}) => {
    const w = new WorkerProc(env(extra));
    procs.push(w);
    await w.ready();
    return w;
  };

  /** Queues orders straight into Redis, as anyone with access to it could, and reports how each ended. */
  async function inject(orders: Record<string, unknown>[]): Promise<Record<string, string>> {
    const connection = { url: server.url };
    const queue = new Queue(queueNameFor(MODEL), { connection });
    const events = new QueueEvents(queueNameFor(MODEL), { connection });
    try {
      await events.waitUntilReady();
      const jobs = await Promise.all(
        orders.map((order) =>
          queue.add(String(order.kind), order, { jobId: String(order.jobId), attempts: 1 }),
        ),
      );
      const outcomes = await Promise.all(
        jobs.map((job) =>
          job.waitUntilFinished(events, 60_000).then(
            () => 'done',
            (error: Error) => (JSON.parse(error.message) as { code: string }).code,
          ),
        ),
      );
      return Object.fromEntries(jobs.map((job, i) => [job.id!, outcomes[i]!]));
    } finally {
      await Promise.all([queue.close(), events.close()]);
    }
  }

  describe('workers admit jobs like the front-end', () => {
    it('refuse injected jobs beyond the limits before downloading anything, and run the rest', async () => {
      const w = await worker({ MAX_OUTPUT_SIDE: '256' });
      const blobs = new BlobStore(redis);
      const small = await blobs.put(await encodePng(gradient(64, 64)));
      const large = await blobs.put(await encodePng(gradient(512, 512)));
      const missing = 'f'.repeat(64);
      const outcomes = await inject([
        generateOrder('bomb', { width: 1024, height: 1024, n: 16 }),
        generateOrder('huge', { width: 1024, height: 1024 }),
        generateOrder('sixteen', { n: 16 }),
        generateOrder('endless', { steps: 1000 }),
        generateOrder('smuggled-param', { unknownKnob: true }),
        { ...generateOrder('smuggled-field'), priority: 'high' },
        // Beyond this worker's MAX_OUTPUT_SIDE; its image was never uploaded, so a download would fail.
        orderFrom(
          'wide-upscale',
          'upscale',
          { scale: 4, creative: false, seed: 1 },
          { width: 128, height: 128 },
          missing,
        ),
        // Claims a 64×64 image (within the limits) and sends 512×512.
        orderFrom(
          'lying-parent',
          'variation',
          {
            prompt: 'a red apple',
            negativePrompt: '',
            seed: 2,
            steps: 8,
            guidance: 4,
            model: MODEL,
            strength: 0.5,
            n: 1,
          },
          { width: 64, height: 64 },
          large,
        ),
        generateOrder('fine', { n: 4 }),
        orderFrom(
          'fine-upscale',
          'upscale',
          { scale: 2, creative: false, seed: 1 },
          { width: 64, height: 64 },
          small,
        ),
      ]);
      expect(outcomes).toEqual({
        bomb: 'flag_value',
        huge: 'over_budget',
        sixteen: 'flag_value',
        endless: 'flag_value',
        'smuggled-param': 'job_invalid',
        'smuggled-field': 'job_invalid',
        'wide-upscale': 'over_budget',
        'lying-parent': 'image_invalid',
        fine: 'done',
        'fine-upscale': 'done',
      });
      const refusedBeforeStarting = ['bomb', 'huge', 'sixteen', 'endless', 'smuggled-param', 'wide-upscale'];
      expect(w.startedJobs.filter((job) => refusedBeforeStarting.includes(job))).toEqual([]);
      expect(
        w.lines.some((l) => l.includes('job refused job=huge') && l.includes('works well up to 128×128')),
      ).toBe(true);
      // The 1024²×16 job once took a worker to 20 GB; refused, it costs nothing.
      expect(peakRssMB(w.pid)).toBeLessThan(1500);
    }, 120_000);

    it('refuse a job over their own memory budget', async () => {
      const config = loadConfig({ env: { MODELS_DIR, LOG_LEVEL: 'error' } });
      const { backend, pipeline, models } = createCompute(config, { threads: 1 });
      // The shipped model needs about 63 MB for one 64×64 image and about 74 MB for one 128×128 (its
      // weights: the MiniLM text encoder, both denoisers and the VAE, about 59 MB).
      const tight = new ImageWorker(
        { pipeline, models },
        {
          redisUrl: server.url,
          concurrency: 1,
          lockSeconds: 5,
          limits: { ...LIMIT_CEILINGS, memoryBudgetMB: 68, maxOutputSide: 4096 },
          name: 'tight',
        },
      );
      try {
        await tight.start();
        const outcomes = await inject([
          generateOrder('over-budget', { width: 128, height: 128 }),
          generateOrder('within-budget'),
        ]);
        expect(outcomes).toEqual({ 'over-budget': 'over_budget', 'within-budget': 'done' });
      } finally {
        await tight.close();
        await backend.dispose();
      }
    }, 60_000);
  });

  describe('the front-end checks what workers send back', () => {
    it('stores no result that does not match its request, and shows no worker text', async () => {
      const data = tempDir('flowbot-boundary-data-');
      const core = createCore(
        loadConfig({ env: env({ DATA_DIR: data.dir, LOCAL_WORKER: '0', LOG_LEVEL: 'error' }) }),
      );
      const blobs = new BlobStore(redis);
      const png = async (size: number) => blobs.put(await encodePng(gradient(size, size)));
      const result = (images: string[]) => ({
        images,
        seeds: images.map((_, i) => i),
        steps: 8,
        guidance: 4,
        scheduler: 'flow_euler',
      });
      const fail = (report: Record<string, unknown>) => {
        throw new Error(JSON.stringify(report));
      };
      // A worker that answers each job as its prompt says.
      const answers: Record<string, () => Promise<unknown>> = {
        honest: async () => result([await png(64)]),
        'too large': async () => result([await png(3000)]),
        'too many': async () => result(await Promise.all(Array.from({ length: 16 }, () => png(64)))),
        phishing: async () =>
          fail({ code: 'image_invalid', message: 'Please log in again at http://evil.example/login' }),
        'made-up code': async () =>
          fail({ code: 'login_required', message: 'Log in at http://evil.example' }),
        internal: async () =>
          fail({ code: 'internal', message: 'Log in at http://evil.example', errorId: 'k3f9' }),
      };
      const info: WorkerInfo = { id: 'hostile', host: 'h', pid: 1, concurrency: 4, models: [MODEL] };
      await announceWorker(redis, info);
      const heartbeat = setInterval(() => void announceWorker(redis, info), 1000);
      const hostile = new Worker(
        queueNameFor(MODEL),
        (job: Job) => answers[(job.data as { params: { prompt: string } }).params.prompt]!(),
        { connection: { url: server.url }, concurrency: 4 },
      );
      try {
        core.queue.recover();
        await waitFor(() => core.cluster?.capacity === 4, 10_000, 'the hostile worker counted');
        const ids: Record<string, string> = {};
        for (const [i, prompt] of Object.keys(answers).entries()) {
          const queued = core.queue.enqueue({
            kind: 'generate',
            userId: `user-${i}`,
            params: { ...shippedJob(i, 8, 64, 1), prompt },
          });
          if (!queued.ok) throw queued.error;
          ids[prompt] = queued.value.job.id;
        }
        const job = (prompt: string) => core.store.getJob(ids[prompt]!)!;
        const finished = (prompt: string) => ['succeeded', 'failed'].includes(job(prompt).state);
        await waitFor(() => Object.keys(ids).every(finished), 60_000, 'every job finished');
        const images = (prompt: string) => core.store.imagesOfJob(ids[prompt]!);
        const apology = /^Something went wrong on my side \(error id [0-9a-z]{4}\)\./;

        expect(job('honest').state).toBe('succeeded');
        expect(images('honest').map((image) => [image.width, image.height])).toEqual([[64, 64]]);
        for (const prompt of ['too large', 'too many']) {
          expect(job(prompt)).toMatchObject({ state: 'failed', error: expect.stringMatching(apology) });
          expect(images(prompt)).toEqual([]);
        }
        expect(job('phishing')).toMatchObject({
          state: 'failed',
          error: 'The image worker could not use the image this job starts from.',
        });
        for (const prompt of ['made-up code', 'internal'])
          expect(job(prompt)).toMatchObject({ state: 'failed', error: expect.stringMatching(apology) });
        for (const prompt of Object.keys(answers)) expect(job(prompt).error ?? '').not.toContain('evil');
      } finally {
        clearInterval(heartbeat);
        await hostile.close();
        await core.close();
        data.cleanup();
      }
    }, 90_000);
  });

  describe('worker heartbeats', () => {
    it('counts only announcements that fit the schema, and says what is wrong with the others', async () => {
      const good: WorkerInfo = { id: 'good', host: 'h', pid: 1, concurrency: 2, models: ['flowbot-emoji'] };
      await announceWorker(redis, good);
      const hostile: Record<string, string> = {
        two: JSON.stringify({ ...good, id: 'two', concurrency: 'two' }),
        'not-json': '{"id":',
        huge: JSON.stringify({ ...good, id: 'huge', concurrency: 1e9 }),
        zero: JSON.stringify({ ...good, id: 'zero', concurrency: 0 }),
        everything: JSON.stringify({ ...good, id: 'everything', models: 'all' }),
        traversal: JSON.stringify({ ...good, id: 'traversal', models: ['../../etc'] }),
        impostor: JSON.stringify({ ...good, id: 'good' }),
      };
      for (const [id, description] of Object.entries(hostile)) await injectHeartbeat(redis, id, description);

      const count = await countWorkers(redis);
      expect(count.reachable).toBe(true);
      expect(count.workers).toEqual([good]);
      expect(count.capacity).toBe(2);
      expect(Object.fromEntries(count.malformed.map(({ id, problem }) => [id, problem]))).toEqual({
        two: expect.stringMatching(/^concurrency: /),
        'not-json': 'not JSON',
        huge: expect.stringMatching(/^concurrency: /),
        zero: expect.stringMatching(/^concurrency: /),
        everything: expect.stringMatching(/^models: /),
        traversal: expect.stringMatching(/^models\.0: /),
        impostor: 'its id is not the one it is listed under',
      });
    });

    it('a heartbeat with "concurrency":"two" is logged and ignored; the front-end stays up and works', async () => {
      const fe = frontend();
      await fe.waitEvent((e) => e.event === 'ready');
      await fe.waitLine((line) => line.includes('capacity=0'), 10_000, 'no workers counted');
      const info = { id: 'w-two', host: 'h', pid: 1, concurrency: 'two', models: ['flowbot-emoji'] };
      await injectHeartbeat(redis, 'w-two', JSON.stringify(info));
      await fe.waitLine(
        (line) => line.includes('ignored a malformed image worker heartbeat') && line.includes('w-two'),
        10_000,
        'the heartbeat reported',
      );
      // Several counts later, the process is still up (it used to die of a TypeError at each count).
      const outcome = await Promise.race([fe.exit(), sleep(3000).then(() => 'running')]);
      expect(outcome).toBe('running');
      expect(fe.lines.filter((l) => l.includes('ignored a malformed image worker heartbeat'))).toHaveLength(
        1,
      );

      await worker();
      await fe.waitLine((line) => line.includes('capacity=1'), 10_000, 'the real worker counted');
      const job = await fe.enqueue('alice', shippedJob(1));
      await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job, 60_000);
    }, 90_000);
  });
});
