/**
 * Composition of the core: the store, the file store and the job queue, built from the configuration.
 * Adapters and the CLI receive this object; nothing else constructs these pieces.
 */
import path from 'node:path';
import type { Config } from './config.js';
import { ModelRegistry, registerImageJobs } from './jobs.js';
import { createLogger } from './log.js';
import { OnnxBackend } from './pipeline/onnx.js';
import { Pipeline } from './pipeline/pipeline.js';
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
  readonly pipeline: Pipeline;
  readonly models: ModelRegistry;
  /** Stops taking jobs, lets running ones finish within the grace period, and closes the store. */
  close(): Promise<void>;
}

/** Options of {@link createCore}. */
export interface CoreOptions {
  /** ONNX Runtime intra-op threads (0: all cores). */
  readonly threads?: number;
  /** Progress previews every this many steps (0: none). */
  readonly previewEvery?: number;
}

/**
 * Opens the store, builds the pipeline and the queue, and registers the image jobs. Callers run
 * {@link JobQueue.recover} once their listeners are attached.
 */
export function createCore(config: Config, options: CoreOptions = {}): Core {
  const store = Store.open(path.join(config.dataDir, 'flowbot.db'));
  const files = new FileStore(config.dataDir);
  const swept = files.sweepTemporaryFiles();
  if (swept > 0) log.info('removed temporary files left by an interrupted write', { count: swept });
  const queue = new JobQueue(store, {
    concurrency: config.queueConcurrency,
    maxJobsPerUser: config.maxJobsPerUser,
    timeoutMs: config.jobTimeoutSeconds * 1000,
  });
  const backend = new OnnxBackend({
    executionProvider: config.executionProvider,
    threads: options.threads ?? 0,
  });
  const pipeline = new Pipeline(backend, {
    vaeTile: config.vaeTile,
    releaseTextEncoders: config.releaseTextEncoders,
    memoryBudgetMB: config.memoryBudgetMB,
  });
  const models = new ModelRegistry(config.modelsDir, config.upscaler);
  registerImageJobs(
    queue,
    {
      store,
      files,
      pipeline,
      modelsDir: config.modelsDir,
      upscaler: config.upscaler,
      previewEvery: options.previewEvery ?? 2,
    },
    models,
  );
  let closed = false;
  return {
    config,
    store,
    files,
    queue,
    pipeline,
    models,
    async close() {
      if (closed) return;
      closed = true;
      await queue.close(config.shutdownGraceSeconds * 1000);
      await backend.dispose();
      store.close();
    },
  };
}
