import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { setLogSink } from '../src/log.js';
import { type JobKind, JobQueue, type QueueOptions } from '../src/queue/queue.js';
import { Store } from '../src/store/store.js';
import { exited, spawnTs, waitForLine } from './helpers/spawn.js';
import { sleep, tempDir, waitFor } from './helpers/tmp.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(options: Partial<QueueOptions> = {}, file?: string) {
  const t = tempDir();
  const dbFile = file ?? path.join(t.dir, 'flowbot.db');
  const store = Store.open(dbFile);
  const queue = new JobQueue(store, { concurrency: 1, maxJobsPerUser: 100, timeoutMs: 10_000, ...options });
  const started: string[] = [];
  queue.on('started', (job) => started.push((job.params as { label: string }).label));
  cleanups.push(async () => {
    await queue.close(0);
    store.close();
    t.cleanup();
  });
  return { store, queue, started, dbFile, dir: t.dir };
}

/** A job kind that takes `ms` and honours its abort signal. */
function sleeper(ms = 5, extra: Partial<JobKind> = {}): JobKind {
  return {
    handler: async (job, { signal }) => {
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
      return { label: (job.params as { label: string }).label };
    },
    ...extra,
  };
}

function add(queue: JobQueue, userId: string, label: string, kind = 'work') {
  const result = queue.enqueue({ kind, userId, params: { label } });
  if (!result.ok) throw result.error;
  return result.value;
}

describe('JobQueue', () => {
  it('is fair: round-robin between users', async () => {
    const { queue, started } = setup();
    queue.register('work', sleeper(5));
    for (let i = 1; i <= 5; i++) add(queue, 'alice', `A${i}`);
    for (let i = 1; i <= 2; i++) add(queue, 'bob', `B${i}`);
    await queue.onIdle();
    // A1 was already running when Bob arrived; after it, the two users take turns.
    console.info(`interleaving: ${started.join(' ')}`);
    expect(started).toEqual(['A1', 'A2', 'B1', 'A3', 'B2', 'A4', 'A5']);
  });

  it('reports queue positions in dispatch order', () => {
    const { queue } = setup();
    queue.register('work', sleeper(1000));
    const a1 = add(queue, 'alice', 'A1');
    const a2 = add(queue, 'alice', 'A2');
    const a3 = add(queue, 'alice', 'A3');
    const b1 = add(queue, 'bob', 'B1');
    // Position 1 means next in line; A1 started at once.
    expect([a1.position, a2.position, a3.position]).toEqual([1, 1, 2]);
    // Bob's first job goes ahead of Alice's third.
    expect(b1.position).toBe(2);
    expect(queue.positionOf(a3.job.id)).toBe(3);
    expect(queue.jobsOf('alice').map((j) => j.position)).toEqual([0, 1, 3]);
  });

  it('lets cheap jobs go first', async () => {
    const { queue, started } = setup();
    queue.register('work', sleeper(5)).register('upscale', sleeper(5, { cheap: true }));
    add(queue, 'alice', 'W1');
    add(queue, 'alice', 'W2');
    add(queue, 'bob', 'W3');
    add(queue, 'carol', 'U1', 'upscale');
    await queue.onIdle();
    expect(started).toEqual(['W1', 'U1', 'W2', 'W3']);
  });

  it('runs up to the concurrency limit at once', async () => {
    const { queue } = setup({ concurrency: 3 });
    let active = 0;
    let peak = 0;
    queue.register('work', {
      handler: async () => {
        active++;
        peak = Math.max(peak, active);
        await sleep(10);
        active--;
      },
    });
    for (let i = 0; i < 10; i++) add(queue, `user${i % 4}`, `J${i}`);
    await queue.onIdle();
    expect(peak).toBe(3);
  });

  it('refuses politely past the per-user cap', async () => {
    const { queue } = setup({ maxJobsPerUser: 3 });
    queue.register('work', sleeper(30));
    add(queue, 'alice', 'A1');
    add(queue, 'alice', 'A2');
    add(queue, 'alice', 'A3');
    const refused = queue.enqueue({ kind: 'work', userId: 'alice', params: { label: 'A4' } });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe(ErrorCode.QueueUserLimit);
      expect(refused.error.message).toBe(
        'You already have 3 jobs in progress (the limit is 3). Wait for one to finish, or cancel one.',
      );
    }
    expect(queue.enqueue({ kind: 'work', userId: 'bob', params: { label: 'B1' } }).ok).toBe(true);
    await queue.onIdle();
    expect(queue.enqueue({ kind: 'work', userId: 'alice', params: { label: 'A5' } }).ok).toBe(true);
  });

  it('cancels queued and running jobs, for their owner only', async () => {
    const { queue, store, started } = setup();
    queue.register('work', sleeper(5000));
    const events: string[] = [];
    queue.on('cancelled', (job) => events.push(`cancelled ${(job.params as { label: string }).label}`));
    const running = add(queue, 'alice', 'A1');
    const waiting = add(queue, 'alice', 'A2');
    const other = queue.cancel(running.job.id, 'mallory');
    expect(other.ok || other.error.code).toBe(ErrorCode.JobNotYours);

    expect(queue.cancel(waiting.job.id, 'alice').ok).toBe(true);
    expect(store.getJob(waiting.job.id)?.state).toBe('cancelled');
    expect(queue.cancel(running.job.id, 'alice').ok).toBe(true);
    await queue.onIdle();
    expect(store.getJob(running.job.id)?.state).toBe('cancelled');
    expect(started).toEqual(['A1']);
    expect(events).toEqual(['cancelled A2', 'cancelled A1']);
    const again = queue.cancel(running.job.id, 'alice');
    expect(again.ok || again.error.code).toBe(ErrorCode.JobFinished);
    const missing = queue.cancel('zzzzzz', 'alice');
    expect(missing.ok || missing.error.code).toBe(ErrorCode.JobNotFound);
  });

  it('fails a job that runs past its timeout and goes on with the next', async () => {
    const { queue, store } = setup();
    queue.register('work', sleeper(5000, { timeoutMs: 50 })).register('quick', sleeper(1));
    const slow = add(queue, 'alice', 'S');
    const quick = add(queue, 'bob', 'Q', 'quick');
    const failures: string[] = [];
    queue.on('failed', (job) => failures.push(job.error ?? ''));
    await queue.onIdle();
    expect(store.getJob(slow.job.id)).toMatchObject({
      state: 'failed',
      error: 'The job timed out after 0 s.',
    });
    expect(store.getJob(quick.job.id)?.state).toBe('succeeded');
    expect(failures).toHaveLength(1);
  });

  it('records handler errors as failures without stopping the queue, their details only in the log', async () => {
    const { queue, store } = setup();
    queue.register('boom', {
      handler: async () => {
        throw new Error('kaboom at /srv/flowbot/src/queue/queue.ts:42');
      },
    });
    queue.register('work', sleeper(1));
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    try {
      const bad = add(queue, 'alice', 'X', 'boom');
      const good = add(queue, 'alice', 'Y');
      await queue.onIdle();
      const failed = store.getJob(bad.job.id)!;
      expect(failed.state).toBe('failed');
      const id = /^Something went wrong on my side \(error id ([0-9a-z]{4})\)/.exec(failed.error ?? '')?.[1];
      expect(id, failed.error ?? '').toBeDefined();
      expect(failed.error).not.toMatch(/kaboom|queue\.ts|\/srv/);
      expect(lines.some((l) => l.includes(`errorId=${id}`) && l.includes('kaboom'))).toBe(true);
      expect(store.getJob(good.job.id)?.state).toBe('succeeded');
    } finally {
      setLogSink((line) => process.stderr.write(`${line}\n`));
    }
  });

  it('emits the lifecycle and stores progress', async () => {
    const { queue, store } = setup({ progressWriteIntervalMs: 0 });
    queue.register('work', {
      handler: async (_job, { reportProgress }) => {
        for (let step = 1; step <= 4; step++) reportProgress({ step, total: 4 });
        return { done: true };
      },
    });
    const events: string[] = [];
    queue.on('queued', (_j, position) => events.push(`queued@${position}`));
    queue.on('started', () => events.push('started'));
    queue.on('progress', (_j, p) => events.push(`progress ${p.step}/${p.total}`));
    queue.on('succeeded', (_j, result) => events.push(`succeeded ${JSON.stringify(result)}`));
    const { job } = add(queue, 'alice', 'P');
    await queue.onIdle();
    expect(events).toEqual([
      'queued@1',
      'started',
      'progress 1/4',
      'progress 2/4',
      'progress 3/4',
      'progress 4/4',
      'succeeded {"done":true}',
    ]);
    expect(store.getJob(job.id)).toMatchObject({ state: 'succeeded', progress: 1, result: { done: true } });
  });

  it('on shutdown lets running jobs finish within the bound and keeps the rest for the next start', async () => {
    const first = setup();
    first.queue.register('work', sleeper(5000));
    const running = add(first.queue, 'alice', 'R');
    const waiting = add(first.queue, 'bob', 'W');
    await waitFor(() => first.queue.runningCount === 1);
    await first.queue.close(20);
    expect(first.queue.enqueue({ kind: 'work', userId: 'carol', params: { label: 'late' } }).ok).toBe(false);
    expect(first.store.getJob(running.job.id)?.state).toBe('queued');
    expect(first.store.getJob(waiting.job.id)?.state).toBe('queued');

    const second = new JobQueue(first.store, { concurrency: 1, maxJobsPerUser: 3, timeoutMs: 10_000 });
    second.register('work', sleeper(1));
    const { resumed } = second.recover();
    expect(resumed.map((j) => j.id)).toEqual([running.job.id, waiting.job.id]);
    await second.onIdle();
    expect(first.store.getJob(running.job.id)).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(first.store.getJob(waiting.job.id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('fails jobs it cannot resume, with the reason', () => {
    const { store, queue } = setup({ maxAttempts: 2 });
    queue.register('work', sleeper(1));
    const unknown = store.createJob({ kind: 'retired-kind', userId: 'alice', params: {} });
    const tired = store.createJob({ kind: 'work', userId: 'alice', params: { label: 'T' } });
    store.markJobRunning(tired.id);
    store.markJobRunning(tired.id);
    const { resumed, failed } = queue.recover();
    expect(resumed).toEqual([]);
    expect(failed.map((j) => j.id)).toEqual([unknown.id, tired.id]);
    expect(store.getJob(unknown.id)?.error).toContain('no longer knows how to run "retired-kind" jobs');
    expect(store.getJob(tired.id)?.error).toContain('interrupted 2 times');
  });
});

describe('crash recovery', () => {
  it('finishes a job whose process was killed mid-run', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const crashing = spawnTs('test/helpers/crash-child.ts', ['enqueue', t.dir]);
    const progressLine = await waitForLine(
      crashing,
      (line) => line.includes('"progress"') && line.includes('"step":3'),
    );
    const jobId = (JSON.parse(progressLine) as { id: string }).id;
    crashing.kill('SIGKILL');
    await exited(crashing);

    const store = Store.open(path.join(t.dir, 'flowbot.db'));
    expect(store.getJob(jobId)).toMatchObject({ state: 'running', attempts: 1 });
    expect(store.getJob(jobId)!.progress).toBeGreaterThan(0);
    store.close();

    const restarted = spawnTs('test/helpers/crash-child.ts', ['recover', t.dir]);
    const idle = JSON.parse(await waitForLine(restarted, (line) => line.includes('"idle"'))) as {
      jobs: { id: string; state: string; attempts: number }[];
    };
    await exited(restarted);
    expect(idle.jobs).toHaveLength(2);
    expect(idle.jobs[0]).toEqual({ id: jobId, state: 'succeeded', attempts: 2 });
    expect(idle.jobs[1]).toMatchObject({ state: 'succeeded', attempts: 1 });
  });
});
