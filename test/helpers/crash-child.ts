/**
 * Child process for the crash-recovery test. `enqueue` queues a slow job and prints when it starts (the
 * parent then kills this process with SIGKILL); `recover` opens the same data directory, resumes
 * unfinished jobs and prints how each ended.
 */
import path from 'node:path';
import { JobQueue } from '../../src/queue/queue.js';
import { FileStore } from '../../src/store/files.js';
import { Store } from '../../src/store/store.js';

const [mode, dataDir] = process.argv.slice(2) as [string, string];
const store = Store.open(path.join(dataDir, 'flowbot.db'));
const files = new FileStore(dataDir);
const queue = new JobQueue(store, {
  concurrency: 1,
  maxJobsPerUser: 3,
  timeoutMs: 60_000,
  progressWriteIntervalMs: 0,
});

queue.register('slow', {
  handler: async (job, { signal, reportProgress }) => {
    const steps = 20;
    for (let step = 1; step <= steps; step++) {
      if (signal.aborted) throw signal.reason;
      await new Promise((resolve) => setTimeout(resolve, mode === 'enqueue' ? 100 : 5));
      reportProgress({ step, total: steps });
    }
    const saved = await files.save('images', Buffer.from(`output of ${job.id}`));
    return { file: saved.relativePath };
  },
});

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
queue.on('started', (job) => print({ event: 'started', id: job.id, attempts: job.attempts }));
queue.on('progress', (job, p) => print({ event: 'progress', id: job.id, step: p.step }));
queue.on('succeeded', (job, result) =>
  print({ event: 'succeeded', id: job.id, attempts: job.attempts, result }),
);
queue.on('failed', (job) => print({ event: 'failed', id: job.id, error: job.error }));

if (mode === 'enqueue') {
  const result = queue.enqueue({ kind: 'slow', userId: 'u1', params: { prompt: 'crash me' } });
  if (!result.ok) throw result.error;
  print({ event: 'queued', id: result.value.job.id });
  // A second job that is still waiting when the process dies.
  const second = queue.enqueue({ kind: 'slow', userId: 'u2', params: { prompt: 'waiting' } });
  if (!second.ok) throw second.error;
  print({ event: 'queued', id: second.value.job.id });
} else {
  const { resumed, failed } = queue.recover();
  print({ event: 'recovered', resumed: resumed.map((j) => j.id), failed: failed.map((j) => j.id) });
  await queue.onIdle();
  print({ event: 'idle', jobs: store.db.prepare('SELECT id, state, attempts FROM jobs ORDER BY seq').all() });
  store.close();
}
