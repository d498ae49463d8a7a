/**
 * The Redis boundary trusts nothing it reads: worker heartbeats are validated (a bad one is logged and
 * left out, never crashes the front-end), workers hold every job they take to the front-end's limits and
 * their own memory budget, results are checked against their request before anything is stored, and a
 * worker's error text never reaches chat: only known codes, in flowbot's own words. Everything hostile
 * is injected into a real `redis-server`, as someone with access to it could.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { announceWorker, countWorkers, type WorkerInfo } from '../src/cluster/directory.js';
import { HEARTBEAT_TTL_MS, KEYS } from '../src/cluster/redis.js';
import { Frontend, type Proc, SHIPPED_MODELS_DIR, shippedJob, WorkerProc } from './helpers/cluster.js';
import { haveRedisServer, RedisServer } from './helpers/redis.js';
import { sleep, tempDir } from './helpers/tmp.js';

const MODELS_DIR = SHIPPED_MODELS_DIR;

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
