/**
 * Scale-out on BullMQ, on a real `redis-server`: throughput with one and with two `npm run worker`
 * processes (one ONNX Runtime thread each) on the shipped model, the latency the Redis path adds to a
 * job against in-process, and how long a SIGKILLed worker's job takes to start again elsewhere at the
 * default lock. The front-end runs in this process, as `createCore` builds it for `npm start`.
 */
import path from 'node:path';
import { type Core, createCore } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { SHIPPED_MODELS_DIR, shippedJob, WorkerProc } from '../helpers/cluster.js';
import { haveRedisServer, RedisServer } from '../helpers/redis.js';
import { sleep, tempDir } from '../helpers/tmp.js';
import type { BenchResult } from './queue.js';

const MODELS_DIR = SHIPPED_MODELS_DIR;
const params = shippedJob;

function frontEnd(dataDir: string, redisUrl?: string): Core {
  return createCore(
    loadConfig({
      env: {
        DATA_DIR: dataDir,
        MODELS_DIR,
        ONNX_THREADS: '1',
        MAX_JOBS_PER_USER: '1000',
        LOCAL_WORKER: '0',
        ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      },
    }),
    { previewEvery: 0 },
  );
}

/** Queues `count` jobs from three users and resolves with the seconds until all succeeded. */
async function runBatch(core: Core, count: number, steps = 8, size = 64): Promise<number> {
  const start = performance.now();
  let onSucceeded = () => {};
  let onFailed = (_job: { error: string | null }) => {};
  const done = new Promise<void>((resolve, reject) => {
    let left = count;
    onSucceeded = () => --left === 0 && resolve();
    onFailed = (job) => reject(new Error(job.error ?? 'failed'));
  });
  core.queue.on('succeeded', onSucceeded);
  core.queue.on('failed', onFailed);
  try {
    for (let i = 0; i < count; i++) {
      const queued = core.queue.enqueue({
        kind: 'generate',
        userId: ['alice', 'bob', 'carol'][i % 3]!,
        params: params(i, steps, size),
      });
      if (!queued.ok) throw queued.error;
    }
    await done;
  } finally {
    core.queue.off('succeeded', onSucceeded);
    core.queue.off('failed', onFailed);
  }
  return (performance.now() - start) / 1000;
}

/** Mean milliseconds from enqueue to succeeded, one job at a time. */
async function meanLatency(core: Core, count: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < count; i++) total += (await runBatch(core, 1)) * 1000;
  return total / count;
}

async function waitForCapacity(core: Core, capacity: number): Promise<void> {
  while (core.cluster?.capacity !== capacity) await sleep(50);
}

/** Runs the scale-out benchmark (skipped without redis-server). */
export async function benchCluster(jobs = 24): Promise<BenchResult> {
  const name = `scale-out: BullMQ on redis-server, shipped model, ${jobs} grids (2×2, 64², 8 steps)`;
  if (!haveRedisServer()) return { name, figures: { skipped: 'redis-server is not installed' } };
  const t = tempDir('flowbot-bench-cluster-');
  const redis = await RedisServer.start(t.dir);
  const workers: WorkerProc[] = [];
  const startWorker = async (env: NodeJS.ProcessEnv = {}) => {
    const worker = new WorkerProc({
      REDIS_URL: redis.url,
      MODELS_DIR,
      ONNX_THREADS: '1',
      LOG_LEVEL: 'info',
      ...env,
    });
    workers.push(worker);
    await worker.ready();
    return worker;
  };
  try {
    // In-process, one thread: the reference for the Redis path's added latency.
    const local = frontEnd(path.join(t.dir, 'local'));
    local.queue.recover();
    await meanLatency(local, 3); // warm-up: sessions loaded
    const localMs = await meanLatency(local, 12);
    await local.close();

    const core = frontEnd(path.join(t.dir, 'remote'), redis.url);
    core.queue.recover();
    const first = await startWorker();
    await waitForCapacity(core, 1);
    await meanLatency(core, 3); // warm-up
    const remoteMs = await meanLatency(core, 12);
    const oneWorker = await runBatch(core, jobs);

    const second = await startWorker();
    await waitForCapacity(core, 2);
    await runBatch(core, 4); // warm-up of the second worker
    const twoWorkers = await runBatch(core, jobs);
    await Promise.all([first.kill('SIGTERM'), second.kill('SIGTERM')]);
    await core.close();

    const recovery = await killRecovery(redis, t.dir, startWorker);
    return {
      name,
      figures: {
        'in-process ms/job': localMs.toFixed(0),
        'via Redis ms/job': remoteMs.toFixed(0),
        'Redis path adds ms/job': (remoteMs - localMs).toFixed(0),
        '1 worker grids/s': (jobs / oneWorker).toFixed(2),
        '2 workers grids/s': (jobs / twoWorkers).toFixed(2),
        '2 workers ÷ 1 worker': (oneWorker / twoWorkers).toFixed(2),
        'killed job restarts after ms': `${recovery.toFixed(0)} (WORKER_LOCK_SECONDS=15, the default)`,
      },
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.kill('SIGKILL')));
    await redis.stop();
    t.cleanup();
  }
}

/** SIGKILLs the worker running a long job; milliseconds until the idle second worker starts it. */
async function killRecovery(
  redis: RedisServer,
  dir: string,
  startWorker: (env?: NodeJS.ProcessEnv) => Promise<WorkerProc>,
): Promise<number> {
  const core = frontEnd(path.join(dir, 'recovery'), redis.url);
  core.queue.recover();
  const victimWorker = await startWorker({ WORKER_LOCK_SECONDS: '15' });
  await waitForCapacity(core, 1);
  const queued = core.queue.enqueue({ kind: 'generate', userId: 'alice', params: params(1, 150, 128) });
  if (!queued.ok) throw queued.error;
  const jobId = queued.value.job.id;
  await victimWorker.waitLine((line) => line.includes(`job started job=${jobId}`));
  const rescuer = await startWorker({ WORKER_LOCK_SECONDS: '15' });
  await sleep(1000);
  const killedAt = performance.now();
  await victimWorker.kill('SIGKILL');
  await rescuer.waitLine((line) => line.includes(`job started job=${jobId}`), 120_000);
  const ms = performance.now() - killedAt;
  core.queue.cancel(jobId, 'alice');
  await sleep(500);
  await rescuer.kill('SIGKILL');
  await core.close();
  return ms;
}
