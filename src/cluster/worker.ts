/**
 * An image worker: stateless compute behind BullMQ. It takes jobs from the queue of every model folder
 * it has, runs them with {@link computeWork} and returns the images as blobs. It keeps no store: the
 * front-end records results. `npm run worker` runs one; `npm start` runs one in-process unless
 * `LOCAL_WORKER=0`.
 *
 * - Concurrency is per process, across all model queues: a job fetched while every slot is busy (with
 *   another model's job) is handed back to the queue for any worker, rather than held.
 * - Cancels arrive on a pub/sub channel (and a key, for a worker that was not listening), because
 *   BullMQ's own cancel only reaches the worker it is called on.
 * - A heartbeat tells the front-end how many jobs this worker can take and which models it has; the
 *   front-end keeps no more jobs in Redis than the live workers can run.
 * - `close()` finishes the jobs in hand first (SIGTERM); a killed worker's job is taken by another once
 *   its lock expires.
 * - Every job is admitted like the front-end's gate admits it, before its images are downloaded: strict
 *   parameters, the most steps, images and pixels any setting allows, the model's area, and this host's
 *   memory budget and upscale size. Whatever is in Redis may not have come from the gate.
 */
import os from 'node:os';
import { DelayedError, type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { asFlowbotError, ErrorCode, logUnexpected, UserError } from '../errors.js';
import { createLogger } from '../log.js';
import type { JobProgress } from '../queue/queue.js';
import { type ComputeDeps, computeWork } from '../work/compute.js';
import { checkJobLimits, type LimitedJob, type StartImage, type WorkLimits } from '../work/limits.js';
import { parseParams, type WireOrder } from '../work/order.js';
import { announceWorker, loraSetKey, type WorkerInfo, withdrawWorker } from './directory.js';
import { BlobStore, Connections, HEARTBEAT_TTL_MS, KEYS, queueNameFor, workerQueueName } from './redis.js';

/** Merged model + LoRA sets a worker announces (the backend keeps at most 8 merged sessions). */
const MERGED_ANNOUNCED = 8;

import { failureToWire, orderFromWire, resultToWire } from './wire.js';

const log = createLogger('worker');

/** Options of {@link ImageWorker}. */
export interface ImageWorkerOptions {
  readonly redisUrl: string;
  readonly concurrency: number;
  readonly lockSeconds: number;
  /** What a job may ask for here ({@link import('../work/limits.js').workerLimits}). */
  readonly limits: WorkLimits;
  /** Shown in logs and in the front-end's worker list; host and pid by default. */
  readonly name?: string;
}

/** How long a job this worker had no room for waits before any worker may take it again. */
const HANDBACK_DELAY_MS = 250;

/** The process-wide count of jobs being computed, against WORKER_CONCURRENCY. */
class Slots {
  constructor(private free: number) {}

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }

  give(): void {
    this.free++;
  }
}

/** The progress a worker publishes: a step count and, now and then, a preview as base64 PNG. */
function progressToWire(progress: JobProgress): { step: number; total: number; preview?: string } {
  return {
    step: progress.step,
    total: progress.total,
    ...(progress.preview ? { preview: Buffer.from(progress.preview).toString('base64') } : {}),
  };
}

/** A BullMQ worker over every model queue this process can serve. */
export class ImageWorker {
  readonly info: WorkerInfo;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly blobs: BlobStore;
  private readonly slots: Slots;
  private readonly running = new Map<string, AbortController>();
  /** The model + LoRA sets merged most recently, newest last (announced: their sessions are warm). */
  private readonly merged: string[] = [];
  private readonly workers: Worker[] = [];
  private readonly connections: Connections;
  private heartbeat: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly deps: ComputeDeps,
    private readonly options: ImageWorkerOptions,
  ) {
    this.connections = new Connections(options.redisUrl);
    this.redis = this.connections.open('blocking');
    this.subscriber = this.connections.open('blocking');
    this.blobs = new BlobStore(this.redis);
    this.slots = new Slots(options.concurrency);
    this.info = {
      id: options.name ?? `${os.hostname()}-${process.pid}`,
      host: os.hostname(),
      pid: process.pid,
      concurrency: options.concurrency,
      models: deps.models.list(),
    };
  }

  /** Connects, starts taking jobs and announces itself. */
  async start(): Promise<void> {
    if (this.info.models.length === 0)
      log.warn('this worker has no model folders, so it can take no jobs', { worker: this.info.id });
    await this.subscriber.subscribe(KEYS.cancelChannel);
    this.subscriber.on('message', (_channel, jobId: string) => this.abort(jobId));
    const lockDuration = this.options.lockSeconds * 1000;
    for (const model of this.info.models) {
      const worker = new Worker(queueNameFor(model), (job, token) => this.process(job, token), {
        connection: this.connections.open('blocking'),
        concurrency: this.options.concurrency,
        lockDuration,
        stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
        // A job whose worker dies twice more is failed rather than tried for ever.
        maxStalledCount: 2,
        // Completed and failed jobs are kept for a day so that a restarted front-end can collect them.
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 24 * 3600 },
      });
      worker.on('error', (error) => log.warn('worker connection problem', { queue: model, error }));
      this.workers.push(worker);
    }
    // Its own queue: jobs with LoRAs are sent to a worker that has their files.
    const own = new Worker(workerQueueName(this.info.id), (job, token) => this.process(job, token), {
      connection: this.connections.open('blocking'),
      concurrency: this.options.concurrency,
      lockDuration,
      stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
      maxStalledCount: 2,
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: { age: 24 * 3600 },
    });
    own.on('error', (error) => log.warn('worker connection problem', { queue: 'own', error }));
    this.workers.push(own);
    await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_TTL_MS / 3);
    log.info('image worker ready', { ...this.info });
  }

  /** Jobs this worker is computing now. */
  get activeCount(): number {
    return this.running.size;
  }

  /**
   * Stops taking jobs, finishes the ones in hand, and disconnects. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      await Promise.all(this.workers.map((worker) => worker.close()));
      await withdrawWorker(this.redis, this.info.id).catch(() => undefined);
      this.connections.disconnectAll();
      log.info('image worker stopped', { worker: this.info.id });
    })();
    return this.closing;
  }

  private async beat(): Promise<void> {
    try {
      await announceWorker(this.redis, this.description());
    } catch (error) {
      log.debug('heartbeat failed; Redis unreachable', { error });
    }
  }

  /** The heartbeat: the fixed description, the LoRAs on disk now and the merged sets held. */
  private description(): WorkerInfo {
    const loras: Record<string, string[]> = {};
    for (const model of this.info.models) loras[model] = this.deps.models.loraNames(model).slice(0, 1000);
    return { ...this.info, loras, merged: [...this.merged] };
  }

  /** Remembers a job's model + LoRA set as merged (its sessions are now cached here). */
  private rememberMerged(order: { model: string; params: unknown }): void {
    const loras = (order.params as { loras?: { name: string; weight: number }[] }).loras;
    if (!loras || loras.length === 0) return;
    const key = loraSetKey(order.model, loras);
    const at = this.merged.indexOf(key);
    if (at >= 0) this.merged.splice(at, 1);
    this.merged.push(key);
    if (this.merged.length > MERGED_ANNOUNCED) this.merged.shift();
  }

  /**
   * A failed job's report: its code, with its text and, for an unexpected error, the id it is logged
   * under here. The front-end tells people in its own words for the code.
   */
  private failure(jobId: string, error: unknown): string {
    const failure = asFlowbotError(error);
    const fields = { job: jobId, worker: this.info.id };
    if (!(error instanceof UserError))
      return failureToWire(
        failure,
        failure.message,
        logUnexpected(error, log, 'job failed on worker', fields),
      );
    if (failure.code === ErrorCode.JobCancelled) log.info('job cancelled', fields);
    else log.info('job refused', { ...fields, code: failure.code, reason: failure.message });
    return failureToWire(failure, failure.message);
  }

  /** Refuses (throws) an order this worker cannot or may not run. */
  private admit(order: WireOrder): void {
    if (!this.deps.models.has(order.model)) {
      throw new UserError(
        ErrorCode.WorkerUnavailable,
        `The worker that took this job (${this.info.id}) does not have the model "${order.model}".`,
      );
    }
    // A correlated union TypeScript cannot follow: the parameters were parsed with the kind's schema.
    const job = {
      kind: order.kind,
      params: parseParams(order.kind, order.params, { strict: true }),
    } as LimitedJob;
    const startImage = (id: string): StartImage => {
      if (order.parent?.id !== id)
        throw new UserError(
          ErrorCode.JobInvalid,
          'That job reached the worker without its image, so it was not run.',
        );
      return order.parent;
    };
    const refused = checkJobLimits(job, { models: this.deps.models, startImage }, this.options.limits);
    if (refused) throw refused;
  }

  private abort(jobId: string): void {
    const controller = this.running.get(jobId);
    if (!controller) return;
    log.info('cancelling a running job', { job: jobId, worker: this.info.id });
    controller.abort(new UserError(ErrorCode.JobCancelled, 'Cancelled.'));
  }

  private async process(job: Job, token?: string): Promise<unknown> {
    const jobId = job.id ?? '';
    if (!this.slots.tryTake()) {
      // Busy with another model's job: hand this one back rather than hold it while another worker
      // that has this model may be idle.
      log.info('busy: handed a job back to its queue', { job: jobId, worker: this.info.id });
      await job.moveToDelayed(Date.now() + HANDBACK_DELAY_MS, token);
      throw new DelayedError();
    }
    const controller = new AbortController();
    this.running.set(jobId, controller);
    let progress: Promise<unknown> = Promise.resolve();
    try {
      controller.signal.throwIfAborted();
      if (await this.redis.exists(KEYS.cancelled(jobId)))
        throw new UserError(ErrorCode.JobCancelled, 'Cancelled.');
      const order = await orderFromWire(job.data, this.blobs, (wire) => this.admit(wire));
      log.info('job started', { job: jobId, worker: this.info.id, kind: order.kind });
      const started = Date.now();
      const result = await computeWork(order, this.deps, {
        signal: controller.signal,
        reportProgress: (p) => {
          // Progress goes out in order, and is all out before the result.
          progress = progress.then(() => job.updateProgress(progressToWire(p))).catch(() => undefined);
        },
      });
      controller.signal.throwIfAborted();
      this.rememberMerged(order);
      const wire = await resultToWire(result, this.blobs);
      await progress;
      log.info('job done', { job: jobId, worker: this.info.id, ms: Date.now() - started });
      return wire;
    } catch (error) {
      throw new Error(this.failure(jobId, error));
    } finally {
      this.running.delete(jobId);
      this.slots.give();
    }
  }
}
