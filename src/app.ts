/**
 * Composition of the core: the store, the file store and the job queue, built from the configuration.
 * Adapters and the CLI receive this object; nothing else constructs these pieces.
 */
import path from 'node:path';
import type { Config } from './config.js';
import { createLogger } from './log.js';
import { JobQueue } from './queue/queue.js';
import { FileStore } from './store/files.js';
import { Store } from './store/store.js';

const log = createLogger('app');

/** The running core. */
export interface Core {
  readonly config: Config;
  readonly store: Store;
  readonly files: FileStore;
  readonly queue: JobQueue;
  /** Stops taking jobs, lets running ones finish within the grace period, and closes the store. */
  close(): Promise<void>;
}

/** Opens the store and builds the queue. Job kinds are registered by the caller before {@link JobQueue.recover}. */
export function createCore(config: Config): Core {
  const store = Store.open(path.join(config.dataDir, 'flowbot.db'));
  const files = new FileStore(config.dataDir);
  const swept = files.sweepTemporaryFiles();
  if (swept > 0) log.info('removed temporary files left by an interrupted write', { count: swept });
  const queue = new JobQueue(store, {
    concurrency: config.queueConcurrency,
    maxJobsPerUser: config.maxJobsPerUser,
    timeoutMs: config.jobTimeoutSeconds * 1000,
  });
  let closed = false;
  return {
    config,
    store,
    files,
    queue,
    async close() {
      if (closed) return;
      closed = true;
      await queue.close(config.shutdownGraceSeconds * 1000);
      store.close();
    },
  };
}
