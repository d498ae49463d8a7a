/**
 * Queue and store overhead: 1,000 no-op jobs through the real queue and a real SQLite store on disk,
 * against the same no-op handler called directly. Reports jobs per second and the latency each job
 * adds (enqueue → succeeded).
 */
import path from 'node:path';
import { JobQueue } from '../../src/queue/queue.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/tmp.js';

/** One benchmark's figures, printed by the runner. */
export interface BenchResult {
  readonly name: string;
  readonly figures: Record<string, number | string>;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** Runs the queue benchmark. */
export async function benchQueue(jobs = 1000): Promise<BenchResult> {
  const t = tempDir('flowbot-bench-');
  const store = Store.open(path.join(t.dir, 'flowbot.db'));
  const queue = new JobQueue(store, { concurrency: 1, maxJobsPerUser: jobs, timeoutMs: 60_000 });
  const noop = async () => ({ ok: true });
  queue.register('noop', { handler: noop });

  const directStart = performance.now();
  for (let i = 0; i < jobs; i++) await noop();
  const directMs = performance.now() - directStart;

  const enqueuedAt = new Map<string, number>();
  const latencies: number[] = [];
  queue.on('succeeded', (job) => {
    latencies.push(performance.now() - enqueuedAt.get(job.id)!);
  });
  const start = performance.now();
  for (let i = 0; i < jobs; i++) {
    const before = performance.now();
    const result = queue.enqueue({ kind: 'noop', userId: `user${i % 10}`, params: { i } });
    if (!result.ok) throw result.error;
    enqueuedAt.set(result.value.job.id, before);
  }
  await queue.onIdle();
  const totalMs = performance.now() - start;
  await queue.close(0);
  store.close();
  t.cleanup();
  latencies.sort((a, b) => a - b);
  // Queue latency here includes waiting behind earlier jobs; the overhead per job is total / jobs.
  return {
    name: `queue+store, ${jobs} no-op jobs (concurrency 1, 10 users)`,
    figures: {
      jobsPerSecond: Math.round(jobs / (totalMs / 1000)),
      overheadPerJobMs: Number(((totalMs - directMs) / jobs).toFixed(3)),
      directCallsPerSecond: Math.round(jobs / (directMs / 1000)),
      latencyP50Ms: Number(percentile(latencies, 0.5).toFixed(1)),
      latencyP99Ms: Number(percentile(latencies, 0.99).toFixed(1)),
    },
  };
}
