/**
 * What every adapter does with the queue: follow the jobs that came from its own platform, and tell
 * people the same thing when one fails or is cancelled.
 */

import type { JobRecord } from '../commands/conversations.js';
import type { JobProgress, JobQueue } from '../src/queue/queue.js';

/** An adapter's reactions to its jobs' lifecycle. */
export interface JobWatcher {
  started?(job: JobRecord): void;
  progress?(job: JobRecord, progress: JobProgress): void;
  /** Something the person should know while the job waits (no worker running, Redis unreachable). */
  notice?(job: JobRecord, text: string): void;
  succeeded(job: JobRecord): void;
  /** A job failed or was cancelled; `text` says so, for the person who asked. */
  ended(job: JobRecord, text: string): void;
}

/** Subscribes `watcher` to the queue events of jobs queued from `platform`. */
export function watchJobs(queue: JobQueue, platform: string, watcher: JobWatcher): void {
  const mine = (job: JobRecord) => job.platform === platform;
  const { started, progress, notice } = watcher;
  if (started) queue.on('started', (job) => mine(job) && started(job));
  if (progress) queue.on('progress', (job, p) => mine(job) && progress(job, p));
  if (notice) queue.on('notice', (job, text) => mine(job) && notice(job, text));
  queue.on('succeeded', (job) => mine(job) && watcher.succeeded(job));
  queue.on(
    'failed',
    (job) => mine(job) && watcher.ended(job, `Sorry, that didn't work: ${job.error ?? 'unknown error'}`),
  );
  queue.on('cancelled', (job) => mine(job) && watcher.ended(job, 'Cancelled.'));
}
