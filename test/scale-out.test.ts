/**
 * Scale-out on BullMQ: a front-end process and worker processes on a real `redis-server`. Every
 * process is real (ONNX Runtime, SQLite, BullMQ); jobs run on the shipped model.
 */
import { cpSync, readFileSync } from 'node:fs';
import { get, request } from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Queue, QueueEvents } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebAdapter } from '../adapters/web/server.js';
import { createBot } from '../commands/index.js';
import { waitNotice } from '../commands/wait-notices.js';
import { createCore } from '../src/app.js';

const NO_WORKER_NOTICE = waitNotice('no-worker');

import { queueNameFor } from '../src/cluster/redis.js';
import { loadConfig } from '../src/config.js';
import { LinkSigner } from '../src/links.js';
import { encodePng } from '../src/pipeline/image.js';
import {
  Frontend,
  type FrontendEvent,
  type Proc,
  SHIPPED_MODELS_DIR,
  shippedJob,
  WorkerProc,
} from './helpers/cluster.js';
import { gradient } from './helpers/images.js';
import { haveRedisServer, RedisServer } from './helpers/redis.js';
import { sleep, tempDir } from './helpers/tmp.js';

const MODELS_DIR = SHIPPED_MODELS_DIR;
const params = shippedJob;

/** Images recorded per job (grids aside), read from the front-end's SQLite file. */
function imagesPerJob(dataDir: string): Map<string, number> {
  const db = new Database(path.join(dataDir, 'flowbot.db'), { readonly: true });
  try {
    const rows = db
      .prepare(
        "SELECT job_id AS job, COUNT(*) AS count FROM images WHERE operation != 'grid' GROUP BY job_id",
      )
      .all() as { job: string; count: number }[];
    return new Map(rows.map((row) => [row.job, row.count]));
  } finally {
    db.close();
  }
}

function count(events: FrontendEvent[], event: string, job: string): number {
  return events.filter((e) => e.event === event && e.job === job).length;
}

describe('npm run worker', () => {
  it('refuses to start without REDIS_URL, naming it (exit 78)', async () => {
    const worker = new WorkerProc({ REDIS_URL: '', MODELS_DIR });
    expect(await worker.exit()).toBe(78);
    expect(worker.lines.join('\n')).toContain('Missing environment variable REDIS_URL');
  });
});

describe.skipIf(!haveRedisServer())('scale-out on BullMQ and Redis', () => {
  let redis: RedisServer;
  let dirs: { dir: string; cleanup: () => void };
  let procs: Proc[];

  beforeEach(async () => {
    dirs = tempDir('flowbot-scale-');
    redis = await RedisServer.start(dirs.dir);
    procs = [];
  });

  afterEach(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await redis.stop();
    dirs.cleanup();
  });

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    REDIS_URL: redis.url,
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
  const worker = async () => {
    const w = new WorkerProc(env());
    procs.push(w);
    await w.ready();
    return w;
  };

  it('answers a burst from three people completely, in round-robin order, on two workers', async () => {
    const [w1, w2] = await Promise.all([worker(), worker()]);
    const fe = frontend();
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=2'), 10_000, 'two workers counted');
    const users = ['alice', 'alice', 'alice', 'alice', 'bob', 'bob', 'carol', 'carol'];
    const jobs = await fe.enqueueAll(users.map((user, i) => ({ user, params: params(i, 24, 128) })));
    for (const job of jobs) await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job);

    const started = fe.events.filter((e) => e.event === 'started').map((e) => e.user);
    // Alice's first two took both workers at once; the rest went by turns, as in-process: the users
    // with waiting jobs in the order they first waited (alice, bob, carol), one job each per round.
    expect(started).toEqual(['alice', 'alice', 'alice', 'bob', 'carol', 'alice', 'bob', 'carol']);
    const images = imagesPerJob(path.join(dirs.dir, 'data'));
    for (const job of jobs) {
      expect(count(fe.events, 'succeeded', job)).toBe(1);
      expect(images.get(job)).toBe(4);
    }
    // Both workers took a share, and no job ran twice.
    expect(w1.startedJobs.length).toBeGreaterThan(0);
    expect(w2.startedJobs.length).toBeGreaterThan(0);
    expect(new Set([...w1.startedJobs, ...w2.startedJobs]).size).toBe(jobs.length);
    // Progress and previews came through from the workers.
    expect(fe.events.some((e) => e.event === 'progress' && e.preview === true)).toBe(true);
  }, 120_000);

  it('answers every job exactly once when a busy worker is killed with SIGKILL', async () => {
    const [w1, w2] = await Promise.all([worker(), worker()]);
    const fe = frontend();
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=2'), 10_000, 'two workers counted');
    const jobs: string[] = [];
    for (const [i, user] of ['alice', 'bob', 'carol', 'alice', 'bob', 'carol'].entries())
      jobs.push(await fe.enqueue(user, params(i, 40, 128)));
    await w1.waitLine((line) => line.includes('job started'), 30_000, 'w1 busy');
    const victim = w1.startedJobs[0]!;
    await fe.waitEvent((e) => e.event === 'progress' && e.job === victim);
    const killedAt = Date.now();
    await w1.kill('SIGKILL');
    await fe.waitEvent((e) => e.event === 'notice' && e.job === victim, 60_000);
    const requeuedMs = Date.now() - killedAt;
    await w2.waitLine((line) => line.includes(`job started job=${victim}`), 60_000, 'the job taken over');
    const takenOverMs = Date.now() - killedAt;
    for (const job of jobs) await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job, 120_000);
    console.log(
      `killed worker's job: back in the queue after ${requeuedMs} ms, started on the other worker after ${takenOverMs} ms (lock 5 s)`,
    );

    expect(fe.events.some((e) => e.event === 'failed')).toBe(false);
    const images = imagesPerJob(path.join(dirs.dir, 'data'));
    for (const job of jobs) {
      expect(count(fe.events, 'succeeded', job)).toBe(1);
      expect(images.get(job)).toBe(4);
    }
  }, 180_000);

  it('loses and repeats nothing when the front-end is killed with jobs in flight', async () => {
    await worker();
    const dataDir = path.join(dirs.dir, 'data');
    const first = frontend();
    await first.waitEvent((e) => e.event === 'ready');
    await first.waitLine((line) => line.includes('capacity=1'), 10_000, 'the worker counted');
    const jobs: string[] = [];
    for (const [i, user] of ['alice', 'bob', 'alice', 'bob'].entries())
      jobs.push(await first.enqueue(user, params(i, 30, 128)));
    await first.waitEvent((e) => e.event === 'progress' && e.job === jobs[0]);
    await first.kill('SIGKILL');

    const second = frontend();
    const ready = await second.waitEvent((e) => e.event === 'ready');
    expect((ready.resumed as string[]).sort()).toEqual([...jobs].sort());
    for (const job of jobs) await second.waitEvent((e) => e.event === 'succeeded' && e.job === job, 120_000);
    const images = imagesPerJob(dataDir);
    for (const job of jobs) {
      expect(count(first.events, 'succeeded', job) + count(second.events, 'succeeded', job)).toBe(1);
      expect(images.get(job)).toBe(4);
    }
  }, 180_000);

  it('hands a job back rather than hold it while busy with another model, so a free worker runs it', async () => {
    const fixtures = path.resolve(import.meta.dirname, 'fixtures', 'models');
    const only = (...models: string[]) => {
      const dir = path.join(dirs.dir, `models-${models.join('-')}`);
      for (const model of models) {
        const from = model === 'flowbot-emoji' ? MODELS_DIR : fixtures;
        cpSync(path.join(from, model), path.join(dir, model), { recursive: true });
        // The shipped model's text encoder is its sibling folder's (model.json: ../minilm-l6/…).
        if (model === 'flowbot-emoji')
          cpSync(path.join(MODELS_DIR, 'minilm-l6'), path.join(dir, 'minilm-l6'), { recursive: true });
      }
      return dir;
    };
    const start = async (modelsDir: string) => {
      const w = new WorkerProc(env({ MODELS_DIR: modelsDir }));
      procs.push(w);
      await w.ready();
      return w;
    };
    // A has the shipped model (for a long job: the most steps, images and pixels workers take) and
    // sd-tiny; C only an unrelated model (it makes room for a second job in Redis).
    const [a] = await Promise.all([start(only('flowbot-emoji', 'sd-tiny')), start(only('sd-tiny-fp16'))]);
    const fe = frontend({ MODELS_DIR: fixtures });
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=2'), 10_000, 'two workers counted');
    const long = await fe.enqueue('alice', params(1, 150, 128));
    await a.waitLine((line) => line.includes(`job started job=${long}`), 30_000, 'A busy');
    const sd = await fe.enqueue('bob', { ...params(2, 4, 64, 1), model: 'sd-tiny' });
    await a.waitLine((line) => line.includes('handed a job back') && line.includes(sd), 10_000, 'hand-back');
    const b = await start(only('sd-tiny'));
    await fe.waitEvent((e) => e.event === 'succeeded' && e.job === sd, 30_000);
    expect(b.startedJobs).toEqual([sd]);
    expect(a.startedJobs).not.toContain(sd);
    expect(fe.events.some((e) => e.event === 'succeeded' && e.job === long)).toBe(false);
  }, 90_000);

  it('cancels a job running on a remote worker, which then takes the next job', async () => {
    const w = await worker();
    const fe = frontend();
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=1'), 10_000, 'the worker counted');
    const long = await fe.enqueue('alice', params(1, 150, 128));
    await fe.waitEvent((e) => e.event === 'progress' && e.job === long);
    const next = await fe.enqueue('bob', params(2));
    fe.send({ op: 'cancel', job: long });
    await fe.waitEvent((e) => e.event === 'cancelled' && e.job === long, 10_000);
    await w.waitLine(
      (line) => line.includes('job cancelled') && line.includes(long),
      10_000,
      'abort on worker',
    );
    await fe.waitEvent((e) => e.event === 'succeeded' && e.job === next, 30_000);
    expect(imagesPerJob(path.join(dirs.dir, 'data')).has(long)).toBe(false);
    expect(w.lines.some((line) => line.includes(`job done job=${long}`))).toBe(false);
  }, 60_000);

  it('lets a worker stopped with SIGTERM finish its job before it exits', async () => {
    const w = await worker();
    const fe = frontend();
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=1'), 10_000, 'the worker counted');
    const job = await fe.enqueue('alice', params(3, 60, 128));
    await fe.waitEvent((e) => e.event === 'progress' && e.job === job);
    const exit = w.kill('SIGTERM');
    await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job, 60_000);
    expect(await exit).toBe(0);
    expect(w.lines.some((line) => line.includes(`job done job=${job}`))).toBe(true);
    expect(imagesPerJob(path.join(dirs.dir, 'data')).get(job)).toBe(4);
  }, 90_000);

  it('refuses malformed jobs on the wire and jobs for a model no worker has, with a clear message', async () => {
    const w = await worker();
    const queue = new Queue(queueNameFor('flowbot-emoji'), { connection: { url: redis.url } });
    try {
      const bad = await queue.add('generate', { jobId: 'x', kind: 'generate', params: { steps: 'many' } });
      const events = new QueueEvents(queueNameFor('flowbot-emoji'), { connection: { url: redis.url } });
      await expect(bad.waitUntilFinished(events, 20_000)).rejects.toThrow(/job_invalid/);
      await events.close();
      expect(w.lines.some((line) => line.includes('ready:'))).toBe(true);
    } finally {
      await queue.close();
    }
    const fe = frontend();
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=1'), 10_000, 'the worker counted');
    const job = await fe.enqueue('alice', { ...params(1), model: 'sdxl-turbo' });
    const failed = await fe.waitEvent((e) => e.event === 'failed' && e.job === job);
    expect(failed.error).toBe(
      'No image worker has the model "sdxl-turbo" right now. Ask the admin to add it to a worker.',
    );
  }, 60_000);

  it('leaves no Redis connection open once closed, so the process ends by itself', async () => {
    // The default LOCAL_WORKER: the front-end's dispatcher and an in-process worker, both on Redis.
    const fe = frontend({ LOCAL_WORKER: '1' });
    await fe.waitEvent((e) => e.event === 'ready');
    const job = await fe.enqueue('alice', params(8));
    await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job, 30_000);
    fe.send({ op: 'close' });
    await fe.waitEvent((e) => e.event === 'closed', 15_000);
    const exited = await Promise.race([fe.exit(), sleep(15_000).then(() => 'still running')]);
    expect(exited).toBe(0);
  }, 60_000);

  it('with LOCAL_WORKER=0 and no worker, generates nothing and the job waits until one connects', async () => {
    const fe = frontend();
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=0'), 10_000, 'no workers counted');
    const job = await fe.enqueue('alice', params(5));
    await sleep(3000);
    expect(fe.events.some((e) => e.event === 'started')).toBe(false);
    expect(imagesPerJob(path.join(dirs.dir, 'data')).size).toBe(0);

    await worker();
    await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job, 30_000);
  }, 60_000);

  it('tells people their job waits while Redis is down, and finishes every job when Redis is back', async () => {
    await worker();
    const fe = frontend();
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=1'), 10_000, 'the worker counted');
    // One job running on the worker when Redis goes away, one queued during the outage.
    const running = await fe.enqueue('alice', params(6, 80, 128));
    await fe.waitEvent((e) => e.event === 'progress' && e.job === running);
    await redis.stop();
    await fe.waitLine((line) => line.includes('redisReachable=false'), 10_000, 'outage noticed');
    const queued = await fe.enqueue('bob', params(7));
    await fe.waitEvent((e) => e.event === 'notice' && e.job === running && e.reason === 'redis-unreachable');
    await redis.resume();
    for (const job of [running, queued])
      await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job, 90_000);
    const images = imagesPerJob(path.join(dirs.dir, 'data'));
    expect(images.get(running)).toBe(4);
    expect(images.get(queued)).toBe(4);
    expect(fe.events.some((e) => e.event === 'failed')).toBe(false);
  }, 150_000);

  it('upscales an image whose model no worker has (plainly), and says so for a creative upscale', async () => {
    await worker();
    const data = tempDir('flowbot-upscale-');
    const core = createCore(loadConfig({ env: env({ DATA_DIR: data.dir, LOCAL_WORKER: '0' }) }));
    try {
      core.queue.recover();
      const file = await core.files.save('images', await encodePng(gradient(64, 64)));
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
        height: 64,
        filePath: file.relativePath,
        sha256: file.sha256,
        userId: 'alice',
        cell: null,
      });
      await waitUntil(() => core.cluster?.capacity === 1, 'the worker counted');
      const upscale = (creative: boolean) => {
        const queued = core.queue.enqueue({
          kind: 'upscale',
          userId: 'alice',
          params: { explanation: 'test', parentId: image.id, scale: 2, creative, seed: 1 },
        });
        if (!queued.ok) throw queued.error;
        return queued.value.job.id;
      };
      const plain = upscale(false);
      const creative = upscale(true);
      await core.queue.onIdle();
      expect(core.store.getJob(plain)?.state).toBe('succeeded');
      expect(core.store.imagesOfJob(plain)[0]).toMatchObject({
        width: 128,
        height: 128,
        model: 'a-retired-model',
      });
      expect(core.store.getJob(creative)).toMatchObject({
        state: 'failed',
        error:
          'No image worker has the model "a-retired-model" right now. Ask the admin to add it to a worker.',
      });
    } finally {
      await core.close();
      data.cleanup();
    }
  }, 60_000);

  it('tells a playground user in the queued reply that their job waits for a worker, then delivers it', async () => {
    const data = tempDir('flowbot-web-');
    const core = createCore(
      loadConfig({ env: env({ DATA_DIR: data.dir, LOCAL_WORKER: '0', LOG_LEVEL: 'error' }) }),
    );
    const web = new WebAdapter({
      bot: createBot(core, () => undefined),
      signer: new LinkSigner('a-test-link-secret-of-some-length'),
      host: '127.0.0.1',
      port: 0,
    });
    try {
      const port = Number(new URL(await web.listen()).port);
      core.queue.recover();
      const events = serverEvents(port);
      await waitUntil(() => core.cluster?.capacity === 0, 'no workers counted');
      // The queued reply itself says why the job waits.
      const queued = await postJson(port, '/api/message', { text: '/imagine a lighthouse --n 1' });
      expect(queued).toContain(`#1 in the queue. ${NO_WORKER_NOTICE}`);
      expect(await postJson(port, '/api/message', { text: '/queue' })).toContain(
        'No image worker is running right now; jobs wait until one connects.',
      );
      await worker();
      await waitUntil(() => core.cluster?.capacity === 1, 'the worker counted');
      expect(await postJson(port, '/api/message', { text: '/queue' })).toContain(
        '1 image worker online, 1 job at a time.',
      );
      await events.next((e) => e.type === 'done', 60_000);
      events.close();
    } finally {
      await web.close();
      await core.close();
      data.cleanup();
    }
  }, 90_000);

  it('gives the same pixels through Redis (local worker, the default) as in-process, drafts too', async () => {
    const fe = frontend({ LOCAL_WORKER: '1' });
    await fe.waitEvent((e) => e.event === 'ready');
    const job = await fe.enqueue('alice', params(42));
    await fe.waitEvent((e) => e.event === 'succeeded' && e.job === job, 60_000);
    const viaRedis = sha256sOfJob(path.join(dirs.dir, 'data'), job);
    // A --draft job: the worker runs the draft denoiser, as in-process, from `draft: true` in its params.
    const draftParams = { ...params(42), steps: 2, draft: true };
    const draft = await fe.enqueue('alice', draftParams);
    await fe.waitEvent((e) => e.event === 'succeeded' && e.job === draft, 60_000);
    const draftViaRedis = sha256sOfJob(path.join(dirs.dir, 'data'), draft);
    expect(denoisersOfJob(path.join(dirs.dir, 'data'), draft)).toEqual(Array(4).fill('draft_denoiser.onnx'));

    const local = tempDir('flowbot-local-');
    try {
      const core = createCore(loadConfig({ env: { DATA_DIR: local.dir, MODELS_DIR, ONNX_THREADS: '1' } }));
      const progress: { job: string; step: number; preview: boolean }[] = [];
      core.queue.on('progress', (job, p) =>
        progress.push({ job: job.id, step: p.step, preview: Boolean(p.preview) }),
      );
      const queued = core.queue.enqueue({ kind: 'generate', userId: 'alice', params: params(42) });
      if (!queued.ok) throw queued.error;
      await core.queue.onIdle();
      const inProcess = sha256sOfJob(local.dir, queued.value.job.id);
      const draftQueued = core.queue.enqueue({ kind: 'generate', userId: 'alice', params: draftParams });
      if (!draftQueued.ok) throw draftQueued.error;
      await core.queue.onIdle();
      const draftInProcess = sha256sOfJob(local.dir, draftQueued.value.job.id);
      await core.close();
      expect(viaRedis).toHaveLength(5);
      expect(viaRedis).toEqual(inProcess);
      expect(draftViaRedis).toHaveLength(5);
      expect(draftViaRedis).toEqual(draftInProcess);
      // The same progress reports, previews included, as in-process.
      const remote = fe.events
        .filter((e) => e.event === 'progress' && e.job === job)
        .map((e) => ({ step: e.step, preview: e.preview }));
      const first = progress
        .filter((p) => p.job === queued.value.job.id)
        .map(({ step, preview }) => ({ step, preview }));
      expect(first.length).toBeGreaterThan(4);
      expect(remote).toEqual(first);
    } finally {
      local.cleanup();
    }
  }, 60_000);
});

/** The denoiser each cell of a job says made it (recorded with the image). */
function denoisersOfJob(dataDir: string, job: string): unknown[] {
  const db = new Database(path.join(dataDir, 'flowbot.db'), { readonly: true });
  try {
    const rows = db
      .prepare("SELECT extra FROM images WHERE job_id = ? AND operation != 'grid' ORDER BY cell")
      .all(job) as { extra: string | null }[];
    return rows.map((row) => (JSON.parse(row.extra ?? '{}') as { denoiser?: string }).denoiser);
  } finally {
    db.close();
  }
}

/** The stored files' hashes of a job's images, cells then grid. */
function sha256sOfJob(dataDir: string, job: string): string[] {
  const db = new Database(path.join(dataDir, 'flowbot.db'), { readonly: true });
  try {
    const rows = db
      .prepare("SELECT sha256, file_path FROM images WHERE job_id = ? ORDER BY operation = 'grid', cell")
      .all(job) as { sha256: string; file_path: string }[];
    for (const row of rows) readFileSync(path.join(dataDir, row.file_path)); // the files exist
    return rows.map((row) => row.sha256);
  } finally {
    db.close();
  }
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** POSTs JSON as the playground page does (same origin). */
function postJson(port: number, pathname: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: pathname,
        headers: {
          'content-type': 'application/json',
          host: `127.0.0.1:${port}`,
          origin: `http://127.0.0.1:${port}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** The playground's server-sent events, as its page receives them. */
function serverEvents(port: number) {
  const received: Record<string, unknown>[] = [];
  let buffer = '';
  const req = get(
    { host: '127.0.0.1', port, path: '/api/events', headers: { host: `127.0.0.1:${port}` } },
    (res) =>
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const parts = buffer.split('\n\n');
        buffer = parts.pop() ?? '';
        for (const part of parts) {
          const data = part.split('\n').find((line) => line.startsWith('data: '));
          if (data) received.push(JSON.parse(data.slice(6)) as Record<string, unknown>);
        }
      }),
  );
  return {
    async next(match: (event: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
      const start = Date.now();
      for (;;) {
        const found = received.find(match);
        if (found) return found;
        if (Date.now() - start > timeoutMs)
          throw new Error(`no matching event; got ${JSON.stringify(received)}`);
        await sleep(50);
      }
    },
    close: () => req.destroy(),
  };
}
