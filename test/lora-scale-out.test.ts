/**
 * LoRAs with scale-out: workers announce their LoRA files in their heartbeat, and a job with a LoRA
 * goes to the worker that has the file (through that worker's own queue), on a real `redis-server`.
 */
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Frontend, type Proc, WorkerProc } from './helpers/cluster.js';
import { haveRedisServer, RedisServer } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

const SD15 = path.join(import.meta.dirname, 'conformance', 'models', 'sd15');

describe.skipIf(!haveRedisServer())('LoRA jobs on workers', () => {
  let redis: RedisServer;
  let dirs: { dir: string; cleanup: () => void };
  let procs: Proc[];

  beforeEach(async () => {
    dirs = tempDir('flowbot-lora-scale-');
    redis = await RedisServer.start(dirs.dir);
    procs = [];
  });
  afterEach(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await redis.stop();
    dirs.cleanup();
  });

  /** A models folder with sd15 (without its own loras/) and, when given, a shared LoRA. */
  const modelsDir = (name: string, lora?: string) => {
    const dir = path.join(dirs.dir, name);
    cpSync(SD15, path.join(dir, 'sd15'), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}loras`),
    });
    if (lora) {
      mkdirSync(path.join(dir, 'loras'));
      cpSync(
        path.join(SD15, 'loras', 'tiny-style.safetensors'),
        path.join(dir, 'loras', `${lora}.safetensors`),
      );
    }
    return dir;
  };
  const env = (modelsDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    REDIS_URL: redis.url,
    MODELS_DIR: modelsDir,
    MODEL: 'sd15',
    ONNX_THREADS: '1',
    WORKER_LOCK_SECONDS: '5',
    ...extra,
  });

  it('sends a job with a LoRA to the worker that has the file, and refuses a LoRA no worker has', async () => {
    const without = new WorkerProc(env(modelsDir('a')));
    const holder = new WorkerProc(env(modelsDir('b', 'style')));
    procs.push(without, holder);
    await Promise.all([without.ready(), holder.ready()]);
    const fe = new Frontend(
      env(modelsDir('fe'), { DATA_DIR: path.join(dirs.dir, 'data'), LOCAL_WORKER: '0' }),
    );
    procs.push(fe);
    await fe.waitEvent((e) => e.event === 'ready');
    await fe.waitLine((line) => line.includes('capacity=2'), 10_000, 'two workers counted');
    const job = (seed: number, loras: { name: string; weight: number }[]) => ({
      explanation: 'test',
      prompt: `a lighthouse ${seed}`,
      negativePrompt: '',
      seed,
      steps: 2,
      guidance: 7.5,
      width: 64,
      height: 64,
      n: 1,
      model: 'sd15',
      loras,
    });
    const jobs: string[] = [];
    for (let i = 0; i < 3; i++)
      jobs.push(await fe.enqueue('alice', job(i, [{ name: 'style', weight: 0.8 }])));
    for (const id of jobs) await fe.waitEvent((e) => e.event === 'succeeded' && e.job === id, 60_000);
    expect(holder.startedJobs.sort()).toEqual([...jobs].sort());
    expect(without.startedJobs.filter((id) => jobs.includes(id))).toEqual([]);
    const missing = await fe.enqueue('alice', job(9, [{ name: 'nowhere', weight: 1 }]));
    const failed = await fe.waitEvent((e) => e.event === 'failed' && e.job === missing, 30_000);
    expect(JSON.stringify(failed)).toContain('No image worker has the LoRA \\"nowhere\\" for sd15');
  }, 120_000);
});
