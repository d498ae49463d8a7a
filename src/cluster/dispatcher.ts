/**
 * The front-end's side of scale-out: a {@link WorkExecutor} that runs work orders on BullMQ workers.
 *
 * The front-end's own fair queue ({@link import('../queue/queue.js').JobQueue}) still decides what runs
 * next; this executor only carries each dispatched order to Redis and the result back. The queue's
 * concurrency follows the live workers' capacity ({@link RedisExecutor.capacity}), so Redis never holds
 * more jobs than the workers can start: fairness and per-user caps stay where they were.
 *
 * - flowbot's job id is the BullMQ job id, so dispatching again after a restart finds the same job
 *   (running, or finished with its result kept for a day) instead of making a second one.
 * - Completion, failure and progress arrive as QueueEvents; a poll of each job's state every
 *   {@link POLL_MS} covers events missed during an outage or a restart.
 * - While Redis is unreachable nothing is lost: orders wait here, and people are told so once.
 */
import { type Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ErrorCode, FlowbotError, UserError } from '../errors.js';
import { createLogger } from '../log.js';
import type { JobContext, WaitReason } from '../queue/queue.js';
import type { WorkExecutor } from '../work/executor.js';
import { expectedShape, type ModelSource } from '../work/expected.js';
import type { WorkOrder, WorkResult } from '../work/order.js';
import { countWorkers, loraSetKey, MalformedHeartbeatLog, type WorkerInfo } from './directory.js';
import { BlobStore, Connections, KEYS, queueNameFor, workerQueueName } from './redis.js';
import { failureFromWire, orderToWire, resultFromWire } from './wire.js';

const log = createLogger('dispatcher');

/** How often each dispatched job's state is checked, besides the events. */
export const POLL_MS = 2000;
/** How often the live workers are counted. */
const CAPACITY_MS = 1000;

const progressSchema = z.object({
  step: z.number().int().min(0),
  total: z.number().int().min(0),
  preview: z.string().max(4_000_000).optional(),
});

/** Options of {@link RedisExecutor}. */
export interface RedisExecutorOptions {
  readonly redisUrl: string;
  /** The model folders, to know what size of images a job makes (results are checked against it). */
  readonly models: ModelSource;
  /** Called when the workers' total capacity changes (0: no live worker, or Redis unreachable). */
  readonly onCapacity: (capacity: number, redisReachable: boolean) => void;
  /** Tells the person who asked why their job waits or runs again, such as a Redis outage. */
  readonly onNotice: (jobId: string, reason: WaitReason) => void;
}

/** A dispatched order the executor is waiting on. */
interface Pending {
  readonly route: Route;
  readonly context: JobContext;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** Already told about a Redis outage (told once per outage). */
  toldWaiting: boolean;
}

interface Route {
  readonly queue: Queue;
  readonly events: QueueEvents;
}

/** Runs work orders on BullMQ workers through Redis. */
export class RedisExecutor implements WorkExecutor {
  private readonly connections: Connections;
  private readonly redis: Redis;
  private readonly blobs: BlobStore;
  private readonly routes = new Map<string, Route>();
  /** Jobs sent to one worker's own queue (LoRA jobs), by id: where to find them to cancel. */
  private readonly queued = new Map<string, string>();
  private readonly pending = new Map<string, Pending>();
  private workers: WorkerInfo[] = [];
  private capacityTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastCapacity = -1;
  private reachable = true;
  private closed = false;
  private readonly malformedHeartbeats = new MalformedHeartbeatLog();

  constructor(private readonly options: RedisExecutorOptions) {
    this.connections = new Connections(options.redisUrl);
    this.redis = this.connections.open('producer');
    this.blobs = new BlobStore(this.redis);
  }

  /** Starts following the workers and the dispatched jobs. Once; a later call does nothing. */
  start(): void {
    if (this.capacityTimer || this.closed) return;
    // The first count waits for the connection, so that a slow connect is not taken for an outage.
    const first = () => this.refreshWorkersSafely();
    if (this.redis.status === 'ready') first();
    else this.redis.once('ready', first);
    this.capacityTimer = setInterval(() => this.refreshWorkersSafely(), CAPACITY_MS);
    this.pollTimer = setInterval(() => this.pollAll(), POLL_MS);
  }

  /** Jobs the live workers can run at once; undefined until they have been counted once. */
  get capacity(): number | undefined {
    return this.lastCapacity < 0 ? undefined : this.lastCapacity;
  }

  /** Whether Redis answered the last time the workers were counted. */
  get redisReachable(): boolean {
    return this.reachable;
  }

  /** The live workers, as their last heartbeats described them. */
  get liveWorkers(): readonly WorkerInfo[] {
    return this.workers;
  }

  async run(unrouted: WorkOrder, context: JobContext): Promise<WorkResult> {
    const order = { ...unrouted, model: this.modelQueueFor(unrouted) };
    const worker = this.loraWorkerFor(order);
    const route = worker ? this.routeTo(workerQueueName(worker)) : this.route(order.model);
    if (worker) this.queued.set(order.jobId, workerQueueName(worker));
    for (;;) {
      let returned: unknown;
      try {
        returned = await this.dispatchAndWait(route, order, context);
      } catch (error) {
        if (error instanceof RedispatchSignal) continue;
        throw error;
      }
      const shape = expectedShape(order, this.options.models);
      const result = await this.withRedis(order.jobId, context, () =>
        resultFromWire(returned, this.blobs, shape),
      );
      if (result) return result;
      // The result's images expired from Redis before this front-end collected them: run it again.
      log.warn('result images expired; running the job again', { job: order.jobId });
      await this.withRedis(order.jobId, context, () => this.removeJob(route, order.jobId));
    }
  }

  /**
   * The model queue an order goes to: its model's, when a live worker has that model. A plain upscale
   * or an exact edit needs no diffusion model, so it goes to any live worker's queue when its image's
   * model is not hosted.
   */
  private modelQueueFor(order: WorkOrder): string {
    const hosted = (model: string) => this.workers.some((worker) => worker.models.includes(model));
    if (this.workers.length === 0 || hosted(order.model)) return order.model;
    const modelFree =
      order.kind === 'edit' ||
      (order.kind === 'upscale' && (order.params as { creative?: unknown }).creative === false);
    const anyModel = this.workers.find((worker) => worker.models.length > 0)?.models[0];
    if (modelFree && anyModel) return anyModel;
    throw new UserError(
      ErrorCode.WorkerUnavailable,
      `No image worker has the model "${order.model}" right now. Ask the admin to add it to a worker.`,
    );
  }

  /**
   * The worker a job with LoRAs goes to: one with the model and every LoRA file, preferring one that
   * announced this model + LoRA set as merged (its session is warm). Undefined for a job without LoRAs
   * (or before any worker announced its LoRAs: an older worker); a LoRA no worker has is refused.
   */
  private loraWorkerFor(order: WorkOrder): string | undefined {
    const loras = (order.params as { loras?: { name: string; weight: number }[] }).loras;
    if (!loras || loras.length === 0 || this.workers.every((w) => w.loras === undefined)) return undefined;
    const able = this.workers.filter(
      (w) => w.models.includes(order.model) && loras.every((l) => w.loras?.[order.model]?.includes(l.name)),
    );
    if (able.length === 0) {
      const missing = loras.find((l) => !this.workers.some((w) => w.loras?.[order.model]?.includes(l.name)));
      throw new UserError(
        ErrorCode.WorkerUnavailable,
        `No image worker has the LoRA "${missing?.name ?? loras[0]!.name}" for ${order.model} right now. Ask the admin to add it to a worker.`,
      );
    }
    const key = loraSetKey(order.model, loras);
    return (able.find((w) => w.merged?.includes(key)) ?? able[0]!).id;
  }

  /** LoRA names the live workers with the model announce (for the front-end's gate). */
  loraNames(model: string): string[] {
    return [...new Set(this.workers.flatMap((w) => w.loras?.[model] ?? []))].sort();
  }

  /** Cancels a dispatched job wherever it is: removed if waiting, aborted on its worker if running. */
  async cancel(jobId: string, model: string): Promise<void> {
    try {
      await this.redis
        .multi()
        .set(KEYS.cancelled(jobId), '1', 'EX', 24 * 3600)
        .publish(KEYS.cancelChannel, jobId)
        .exec();
      const own = this.queued.get(jobId);
      const job = await (own ? this.routeTo(own) : this.route(model)).queue.getJob(jobId);
      if (job && (await job.getState()) === 'waiting') await job.remove().catch(() => undefined);
    } catch (error) {
      // The job is already settled here; should a worker still run it, its result is never collected.
      log.warn('could not reach Redis to cancel a job; a worker may still run it', {
        job: jobId,
        error,
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.capacityTimer);
    clearInterval(this.pollTimer);
    for (const pending of this.pending.values())
      pending.reject(new FlowbotError(ErrorCode.QueueClosed, 'flowbot is shutting down'));
    this.pending.clear();
    await Promise.all(
      [...this.routes.values()].map(async ({ queue, events }) => {
        await Promise.all([queue.close(), events.close()]).catch(() => undefined);
      }),
    );
    this.connections.disconnectAll();
  }

  // ---- dispatching ------------------------------------------------------------------------------------

  private route(model: string): Route {
    return this.routeTo(queueNameFor(model));
  }

  private routeTo(name: string): Route {
    let route = this.routes.get(name);
    if (!route) {
      const queue = new Queue(name, { connection: this.connections.open('producer') });
      queue.on('error', (error) => log.debug('queue connection problem', { queue: name, error }));
      const events = new QueueEvents(name, { connection: this.connections.open('blocking') });
      events.on('error', (error) => log.debug('queue events connection problem', { queue: name, error }));
      events.on('completed', ({ jobId, returnvalue }) => this.settle(jobId, { returned: returnvalue }));
      events.on('failed', ({ jobId, failedReason }) => this.settle(jobId, { failedReason }));
      events.on('progress', ({ jobId, data }) => this.progress(jobId, data));
      events.on(
        'stalled',
        ({ jobId }) => this.pending.has(jobId) && this.options.onNotice(jobId, 'worker-stalled'),
      );
      route = { queue, events };
      this.routes.set(name, route);
    }
    return route;
  }

  /** Puts the order in Redis (retrying while it is unreachable) and waits for its outcome. */
  private async dispatchAndWait(route: Route, order: WorkOrder, context: JobContext): Promise<unknown> {
    const outcome = new Promise<unknown>((resolve, reject) => {
      this.pending.set(order.jobId, { route, context, resolve, reject, toldWaiting: false });
    });
    // Aborted while still dispatching, the outcome is rejected and never awaited: not an unhandled rejection.
    outcome.catch(() => undefined);
    const onAbort = () => this.abandon(order, context.signal.reason);
    context.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.withRedis(order.jobId, context, async () => {
        const wire = await orderToWire(order, this.blobs);
        await route.queue.add(order.kind, wire, {
          jobId: order.jobId,
          attempts: 1,
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 24 * 3600 },
        });
      });
      this.pollSafely(order.jobId);
      return await outcome;
    } finally {
      context.signal.removeEventListener('abort', onAbort);
      this.pending.delete(order.jobId);
      this.queued.delete(order.jobId);
    }
  }

  /**
   * Runs `action` until Redis answers, telling the person once that their job waits. Rejects only when
   * the job is aborted (cancel, timeout, shutdown).
   */
  private async withRedis<T>(jobId: string, context: JobContext, action: () => Promise<T>): Promise<T> {
    let told = false;
    for (;;) {
      context.signal.throwIfAborted();
      try {
        return await action();
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        if (!told) {
          told = true;
          log.warn('Redis unreachable; the job waits', { job: jobId });
          this.options.onNotice(jobId, 'redis-unreachable');
        }
        await sleep(1000, context.signal);
      }
    }
  }

  /** The job was cancelled, timed out, or the front-end is stopping. */
  private abandon(order: WorkOrder, reason: unknown): void {
    const pending = this.pending.get(order.jobId);
    this.pending.delete(order.jobId);
    pending?.reject(reason);
    // On shutdown the job keeps running on its worker; the next start collects it.
    if (reason instanceof FlowbotError && reason.code === ErrorCode.QueueClosed) return;
    void this.cancel(order.jobId, order.model);
  }

  private async removeJob(route: Route, jobId: string): Promise<void> {
    const job = await route.queue.getJob(jobId);
    await job?.remove();
  }

  // ---- outcomes -----------------------------------------------------------------------------------

  private settle(jobId: string, outcome: { returned?: unknown; failedReason?: string }): void {
    const pending = this.pending.get(jobId);
    if (!pending) return;
    this.pending.delete(jobId);
    if ('returned' in outcome && outcome.failedReason === undefined) pending.resolve(outcome.returned);
    else pending.reject(failureFromWire(outcome.failedReason, jobId));
  }

  private progress(jobId: string, data: unknown): void {
    const pending = this.pending.get(jobId);
    const parsed = progressSchema.safeParse(data);
    if (!pending || !parsed.success) return;
    const { step, total, preview } = parsed.data;
    pending.context.reportProgress({
      step,
      total,
      ...(preview ? { preview: new Uint8Array(Buffer.from(preview, 'base64')) } : {}),
    });
  }

  /** Checks one job's state: the fallback for events missed while Redis or this process was away. */
  private async poll(jobId: string): Promise<void> {
    const pending = this.pending.get(jobId);
    if (!pending) return;
    let job: Job | undefined;
    try {
      job = await pending.route.queue.getJob(jobId);
      if (pending.toldWaiting) pending.toldWaiting = false;
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      if (!pending.toldWaiting) {
        pending.toldWaiting = true;
        this.options.onNotice(jobId, 'redis-unreachable');
      }
      return;
    }
    if (!job) {
      // Redis lost the job (restarted without persistence): queue it again.
      log.warn('a dispatched job is missing from Redis; dispatching it again', { job: jobId });
      const reject = pending.reject;
      this.pending.delete(jobId);
      reject(new RedispatchSignal());
      return;
    }
    const state = await job.getState().catch(() => 'unknown');
    if (state !== 'completed' && state !== 'failed') return;
    // Read again: the job fetched above may predate its outcome (no return value or reason yet).
    const settled = await pending.route.queue.getJob(jobId);
    if (!settled) return;
    if (state === 'completed') this.settle(jobId, { returned: settled.returnvalue });
    else this.settle(jobId, { failedReason: settled.failedReason });
  }

  private pollSafely(jobId: string): void {
    void this.poll(jobId).catch((error: unknown) => log.debug('poll failed', { job: jobId, error }));
  }

  private pollAll(): void {
    for (const jobId of this.pending.keys()) this.pollSafely(jobId);
  }

  // ---- workers ------------------------------------------------------------------------------------

  /** A timer's refresh: whatever goes wrong is logged, never an unhandled rejection that ends the process. */
  private refreshWorkersSafely(): void {
    this.refreshWorkers().catch((error: unknown) =>
      log.error('counting the image workers failed', { error }),
    );
  }

  private async refreshWorkers(): Promise<void> {
    const wasReachable = this.reachable;
    const { workers, capacity, reachable, malformed } = await countWorkers(this.redis);
    this.malformedHeartbeats.report(malformed);
    this.workers = workers;
    this.reachable = reachable;
    if (capacity !== this.lastCapacity || wasReachable !== reachable) {
      log.info('image workers', { live: workers.length, capacity, redisReachable: reachable });
      this.lastCapacity = capacity;
      this.options.onCapacity(capacity, reachable);
    }
  }
}

/** Thrown inside the executor when a job must be dispatched again. */
class RedispatchSignal extends Error {}

function isConnectionError(error: unknown): boolean {
  const message = String((error as Error)?.message ?? error);
  return /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Reached the max retries|connect/i.test(
    message,
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
