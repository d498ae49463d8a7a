/**
 * Composition of the core: the store, the file store and the job queue, built from the configuration.
 * Adapters and the CLI receive this object; nothing else constructs these pieces.
 */
import path from 'node:path';
import { RedisExecutor } from './cluster/dispatcher.js';
import { ImageWorker } from './cluster/worker.js';
import type { Config } from './config.js';
import { ModelRegistry, registerImageJobs } from './jobs.js';
import { createLogger } from './log.js';
import { NsfwClassifier } from './moderation/classifier.js';
import { OnnxBackend } from './pipeline/onnx.js';
import { Pipeline } from './pipeline/pipeline.js';
import { SentenceEncoder } from './pipeline/sentence-encoder.js';
import { JobQueue } from './queue/queue.js';
import { FileStore } from './store/files.js';
import { DataDirLock } from './store/lock.js';
import { Store } from './store/store.js';
import { LocalExecutor, type WorkExecutor } from './work/executor.js';
import { workerLimits } from './work/limits.js';

const log = createLogger('app');

/** The running core. */
export interface Core {
  readonly config: Config;
  readonly store: Store;
  readonly files: FileStore;
  readonly queue: JobQueue;
  readonly pipeline: Pipeline;
  readonly models: ModelRegistry;
  /**
   * The sentence encoder replies are read with (loaded on the first reply that needs it); undefined when
   * its folder is missing. The front-end runs it, also with `REDIS_URL`: it is small, and workers never load it.
   */
  readonly encoder: SentenceEncoder | undefined;
  /**
   * Image moderation's classifier (loaded on the first image); undefined when its folder is missing.
   * The front-end runs it, also with `REDIS_URL`: results are read before they are stored or posted.
   */
  readonly moderation: NsfwClassifier | undefined;
  /** With `REDIS_URL`: the dispatcher to the BullMQ workers (live workers, capacity). */
  readonly cluster: RedisExecutor | undefined;
  /** With `REDIS_URL` and `LOCAL_WORKER`: the worker this process runs. */
  readonly localWorker: ImageWorker | undefined;
  /** Stops taking jobs, lets running ones finish within the grace period, and closes the store. */
  close(): Promise<void>;
}

/** Options of {@link createCore}. */
export interface CoreOptions {
  /** ONNX Runtime intra-op threads (0: all cores); `ONNX_THREADS` by default. */
  readonly threads?: number;
  /** Progress previews every this many steps (0: none). */
  readonly previewEvery?: number;
}

/** The image-work side of a process: ONNX Runtime, the pipeline and the model folders. */
export function createCompute(config: Config, options: CoreOptions = {}) {
  const backend = new OnnxBackend({
    executionProvider: config.executionProvider,
    threads: options.threads ?? config.onnxThreads,
    deviceId: config.deviceId,
    mergedSessionBudgetMB: config.loraCacheMB,
  });
  const pipeline = new Pipeline(backend, {
    vaeTile: config.vaeTile,
    releaseTextEncoders: config.releaseTextEncoders,
    memoryBudgetMB: config.memoryBudgetMB,
    loraMaxMB: config.loraMaxMB,
  });
  const models = new ModelRegistry(config.modelsDir, config.upscaler);
  return { backend, pipeline, models };
}

/**
 * Locks the data directory, opens the store, builds the pipeline and the queue, and registers the image
 * jobs. Callers run {@link JobQueue.recover} once their listeners are attached. Throws a
 * {@link import('./store/lock.js').DataDirLockedError} (code `data_dir_locked`) when another process
 * has the data directory, before anything there is touched.
 */
export function createCore(config: Config, options: CoreOptions = {}): Core {
  // Before the temporary-file sweep, the migrations and the queue's recovery: each of them would
  // disturb another flowbot working in the same directory.
  const lock = DataDirLock.acquire(config.dataDir, { port: config.port });
  try {
    return assembleCore(config, options, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

function assembleCore(config: Config, options: CoreOptions, lock: DataDirLock): Core {
  const store = Store.open(path.join(config.dataDir, 'flowbot.db'));
  const files = new FileStore(config.dataDir);
  const swept = files.sweepTemporaryFiles();
  if (swept > 0) log.info('removed temporary files left by an interrupted write', { count: swept });
  const queue = new JobQueue(store, {
    concurrency: config.queueConcurrency,
    maxJobsPerUser: config.maxJobsPerUser,
    timeoutMs: config.jobTimeoutSeconds * 1000,
  });
  const { backend, pipeline, models } = createCompute(config, options);
  const compute = { pipeline, models };
  const encoderBackend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
  const encoder = sentenceEncoder(config, encoderBackend);
  const moderation = nsfwClassifier(config, encoderBackend);
  const cluster = config.redisUrl ? connectCluster(config.redisUrl, queue, models) : undefined;
  const localWorker =
    config.redisUrl && config.localWorker
      ? new ImageWorker(compute, {
          redisUrl: config.redisUrl,
          concurrency: config.workerConcurrency,
          lockSeconds: config.workerLockSeconds,
          limits: workerLimits(config),
        })
      : undefined;
  // An unreachable Redis is waited out (jobs wait, people are told), never fatal at start-up.
  const localReady = localWorker
    ?.start()
    .catch((error: unknown) => log.error('local image worker failed to start', { error }));
  // The first count of workers waits (a little) for the local one, so that a job sent at start-up is
  // not told that no worker is running.
  if (cluster) void Promise.race([localReady, delay(3000)]).then(() => cluster.start());
  const executor: WorkExecutor = cluster ?? new LocalExecutor(compute);
  registerImageJobs(queue, { store, files, previewEvery: options.previewEvery ?? 2, moderation }, executor);
  let closed = false;
  return {
    config,
    store,
    files,
    queue,
    pipeline,
    models,
    encoder,
    moderation,
    cluster,
    localWorker,
    async close() {
      if (closed) return;
      closed = true;
      // The local worker finishes the jobs in hand while the queue still waits for their results.
      await Promise.all([localWorker?.close(), queue.close(config.shutdownGraceSeconds * 1000)]);
      await executor.close();
      await backend.dispose();
      await encoderBackend.dispose();
      store.close();
      lock.release();
    },
  };
}

/**
 * The encoder folder, or one warning at start-up and the rule table alone. It runs on one thread of its
 * own: a reply is a dozen tokens, which more threads do not speed up but do slow down on a busy host.
 */
function sentenceEncoder(config: Config, backend: OnnxBackend): SentenceEncoder | undefined {
  if (SentenceEncoder.present(config.encoder)) return new SentenceEncoder(backend, config.encoder);
  log.warn('no sentence encoder; replies are read by the rule table alone', { folder: config.encoder });
  return undefined;
}

/**
 * The moderation classifier, or one warning at start-up and images posted unchecked. It shares the
 * encoder's one-thread backend: a 224² MobileNet is a few tens of milliseconds per image there, and the
 * front-end's other threads stay free.
 */
function nsfwClassifier(config: Config, backend: OnnxBackend): NsfwClassifier | undefined {
  if (NsfwClassifier.present(config.moderationModel))
    return new NsfwClassifier(backend, config.moderationModel);
  log.warn('no image-moderation classifier; images are posted unchecked', {
    folder: config.moderationModel,
  });
  return undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * The Redis dispatcher, wired to the queue: the queue runs as many jobs as the live workers can take,
 * and people whose job waits for a worker or for Redis are told so.
 */
function connectCluster(redisUrl: string, queue: JobQueue, models: ModelRegistry): RedisExecutor {
  queue.setConcurrency(0);
  const waitingReason = () => (cluster.redisReachable ? 'no-worker' : 'redis-unreachable');
  const cluster = new RedisExecutor({
    redisUrl,
    models,
    onCapacity: (capacity) => {
      queue.setConcurrency(capacity);
      if (capacity === 0) for (const job of queue.waitingOrder()) queue.notify(job.id, waitingReason());
    },
    onNotice: (jobId, reason) => queue.notify(jobId, reason),
  });
  // A job queued while none can start says so in its own reply (commands/context.ts); a job already
  // waiting is told here when the workers go away.
  return cluster;
}
