/**
 * One flowbot per DATA_DIR: a second `npm start` on the same data directory stops with the first one's
 * PID before it sweeps, migrates or resumes anything; a SIGKILLed holder's lock is taken over (and
 * logged); a clean exit releases it; workers, which keep no data directory, never take it.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ErrorCode, hasCode } from '../src/errors.js';
import { DataDirLock, DataDirLockedError, HOLDER_FILE } from '../src/store/lock.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { Frontend, type Proc, SHIPPED_MODELS_DIR, shippedJob, WorkerProc } from './helpers/cluster.js';
import { freePort, haveRedisServer, RedisServer } from './helpers/redis.js';
import { exited, spawnTs, waitForLine } from './helpers/spawn.js';
import { sleep, tempDir } from './helpers/tmp.js';

/** An in-flight write of the holder: a temporary file as `writeFileAtomic` names them. */
function plantTemporaryFile(dataDir: string, pid: number): string {
  const file = path.join(dataDir, 'images', `.tmp-${pid}-0123456789ab`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, 'half of a PNG');
  return file;
}

/** Every job's state and attempts, read as another process would. */
function jobsIn(dataDir: string): { id: string; state: string; attempts: number }[] {
  const db = new Database(path.join(dataDir, 'flowbot.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, state, attempts FROM jobs ORDER BY seq').all() as {
      id: string;
      state: string;
      attempts: number;
    }[];
  } finally {
    db.close();
  }
}

/** `npm start` on `dataDir`, with its stderr (the log) collected. */
function startFlowbot(dataDir: string, port: number, env: NodeJS.ProcessEnv = {}) {
  const child = spawnTs('adapters/main.ts', [], {
    DATA_DIR: dataDir,
    MODELS_DIR: FIXTURE_MODELS,
    MODEL: 'flow-tiny',
    PORT: String(port),
    LOG_LEVEL: 'info',
    ONNX_THREADS: '1',
    ...env,
  });
  const output = { stderr: '' };
  child.stderr?.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  return { child, output };
}

describe('the data directory lock, in one process', () => {
  it('refuses a second holder with the first one’s PID, and is free again once released', () => {
    const t = tempDir();
    try {
      const first = DataDirLock.acquire(t.dir, { port: 8787 });
      let refused: unknown;
      try {
        DataDirLock.acquire(t.dir);
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(DataDirLockedError);
      expect((refused as Error).message).toBe(
        `Another flowbot (PID ${process.pid} on ${(refused as DataDirLockedError).holder?.host}, started ${(refused as DataDirLockedError).holder?.startedAt}, playground port 8787) is already using the data directory ${t.dir}. Stop it first, or give this one its own DATA_DIR.`,
      );
      first.release();
      expect(existsSync(path.join(t.dir, HOLDER_FILE))).toBe(false);
      DataDirLock.acquire(t.dir).release();
    } finally {
      t.cleanup();
    }
  });

  it('stops createCore before it sweeps temporary files or opens the database', () => {
    const t = tempDir();
    const held = DataDirLock.acquire(t.dir);
    try {
      const inFlight = plantTemporaryFile(t.dir, process.pid);
      const config = loadConfig({ env: { DATA_DIR: t.dir, MODELS_DIR: FIXTURE_MODELS, LOG_LEVEL: 'error' } });
      let refused: unknown;
      try {
        createCore(config);
      } catch (error) {
        refused = error;
      }
      expect(hasCode(refused, ErrorCode.DataDirLocked)).toBe(true);
      expect(existsSync(inFlight)).toBe(true);
      expect(existsSync(path.join(t.dir, 'flowbot.db'))).toBe(false);
    } finally {
      held.release();
      t.cleanup();
    }
  });
});

describe('two flowbot processes on one DATA_DIR', () => {
  const procs: Proc[] = [];
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  });

  it('a second one on another port exits (75) naming the first’s PID, touching none of its jobs or files', async () => {
    const t = tempDir('flowbot-lock-');
    const dataDir = path.join(t.dir, 'data');
    try {
      // The first: the real core, running one long job on the shipped model with two more waiting.
      const first = new Frontend({
        DATA_DIR: dataDir,
        MODELS_DIR: SHIPPED_MODELS_DIR,
        ONNX_THREADS: '1',
        QUEUE_CONCURRENCY: '1',
        MAX_JOBS_PER_USER: '10',
        PORT: String(await freePort()),
      });
      procs.push(first);
      await first.waitEvent((e) => e.event === 'ready');
      const jobs = await first.enqueueAll(
        [1, 2, 3].map((seed) => ({ user: 'alice', params: shippedJob(seed, 150, 128) })),
      );
      await first.waitEvent((e) => e.event === 'progress' && e.job === jobs[0]);
      const inFlight = plantTemporaryFile(dataDir, first.pid);
      const before = jobsIn(dataDir);
      expect(before.map((job) => job.state)).toEqual(['running', 'queued', 'queued']);

      const second = startFlowbot(dataDir, await freePort(), { MODELS_DIR: SHIPPED_MODELS_DIR });
      const code = await Promise.race([exited(second.child), sleep(30_000).then(() => 'still running')]);
      if (code === 'still running') second.child.kill('SIGKILL');
      expect(code).toBe(75);
      expect(second.output.stderr).toMatch(
        new RegExp(
          `^flowbot: Another flowbot \\(PID ${first.pid} on .+\\) is already using the data directory`,
          'm',
        ),
      );
      expect(second.output.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      expect(existsSync(inFlight)).toBe(true);
      // Nothing was resumed a second time: each job was started at most once, by the first.
      expect(jobsIn(dataDir).every((job) => job.attempts <= 1 && job.state !== 'failed')).toBe(true);
      expect(first.lines.some((line) => line.includes('"event":"failed"'))).toBe(false);
      // And the first goes on with its job.
      const progressBefore = first.events.filter((e) => e.event === 'progress').length;
      await first.waitLine(
        () => first.events.filter((e) => e.event === 'progress').length > progressBefore,
        30_000,
        'more progress from the first',
      );
    } finally {
      t.cleanup();
    }
  }, 120_000);

  it('takes over the lock of a SIGKILLed flowbot (logged), resumes its job, and releases it on exit', async () => {
    const t = tempDir('flowbot-lock-');
    const dataDir = path.join(t.dir, 'data');
    try {
      const killed = new Frontend({
        DATA_DIR: dataDir,
        MODELS_DIR: FIXTURE_MODELS,
        ONNX_THREADS: '1',
        MAX_JOBS_PER_USER: '10',
      });
      procs.push(killed);
      await killed.waitEvent((e) => e.event === 'ready');
      const job = await killed.enqueue('alice', { ...shippedJob(1, 1000, 128), model: 'flow-tiny' });
      await killed.waitEvent((e) => e.event === 'progress' && e.job === job);
      const leftBehind = plantTemporaryFile(dataDir, killed.pid);
      await killed.kill('SIGKILL');
      expect(existsSync(path.join(dataDir, HOLDER_FILE))).toBe(true);

      const next = startFlowbot(dataDir, await freePort(), { SHUTDOWN_GRACE_SECONDS: '0' });
      try {
        await waitForLine(next.child, (line) => line.includes('flowbot playground:'), 30_000);
        expect(next.output.stderr).toMatch(
          new RegExp(
            `took over the data directory from a flowbot that ended without releasing it .*previousPid=${killed.pid}`,
          ),
        );
        expect(next.output.stderr).toMatch(/job queue ready resumed=1/);
        // Its temporary file was swept: the process that was writing it is gone.
        expect(existsSync(leftBehind)).toBe(false);
        next.child.kill('SIGTERM');
        expect(await exited(next.child)).toBe(0);
        expect(existsSync(path.join(dataDir, HOLDER_FILE))).toBe(false);
      } finally {
        if (next.child.exitCode === null) next.child.kill('SIGKILL');
      }
    } finally {
      t.cleanup();
    }
  }, 120_000);
});

describe.skipIf(!haveRedisServer())('image workers and the data directory', () => {
  it('`npm run worker` starts on a DATA_DIR a front-end holds: workers keep no data directory', async () => {
    const t = tempDir('flowbot-lock-');
    const redis = await RedisServer.start(t.dir);
    const held = DataDirLock.acquire(path.join(t.dir, 'data'));
    const worker = new WorkerProc({
      REDIS_URL: redis.url,
      DATA_DIR: path.join(t.dir, 'data'),
      MODELS_DIR: SHIPPED_MODELS_DIR,
      ONNX_THREADS: '1',
    });
    try {
      await worker.ready();
    } finally {
      await worker.kill('SIGKILL');
      held.release();
      await redis.stop();
      t.cleanup();
    }
  }, 60_000);
});
