/**
 * The job queue: every piece of image work runs through it.
 *
 * - Concurrency is bounded by p-queue; which job goes next is decided here, round-robin between users,
 *   so that one person's ten jobs do not hold everyone else back. Cheap jobs (upscales) go first.
 * - A job is written to the store before {@link JobQueue.enqueue} returns, and every state change is
 *   written as it happens, so a crash or restart loses nothing: {@link JobQueue.recover} runs what was
 *   queued or running again, or reports it failed with the reason.
 * - Each run gets an AbortSignal that fires on cancellation, on timeout and on shutdown.
 */
import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import { asFlowbotError, ErrorCode, FlowbotError, publicMessage, UserError } from '../errors.js';
import { createLogger } from '../log.js';
import { err, ok, type Result } from '../result.js';
import type { JobRecord, NewJob, Store } from '../store/store.js';
import { admissionRefusal } from './admission.js';
import { FairLane } from './fair-lane.js';

const log = createLogger('queue');

/** Progress reported by a running job. */
export interface JobProgress {
  readonly step: number;
  readonly total: number;
  /** An optional small preview image (PNG bytes) of the work so far. */
  readonly preview?: Uint8Array;
}

/** What a handler gets besides the job. */
export interface JobContext {
  /** Fires on cancel, timeout or shutdown; handlers check it between steps. */
  readonly signal: AbortSignal;
  /** Reports progress; cheap to call on every step. */
  readonly reportProgress: (progress: JobProgress) => void;
}

/** Runs one kind of job and returns a JSON-serialisable result. */
export type JobHandler = (job: JobRecord, context: JobContext) => Promise<unknown>;

/** How a kind of job is run. */
export interface JobKind {
  readonly handler: JobHandler;
  /** Cheap jobs (such as upscales) are dispatched before normal ones. */
  readonly cheap?: boolean;
  /** Overrides the queue's default timeout. */
  readonly timeoutMs?: number;
}

/** Lifecycle events, as adapters subscribe to them. */
export interface QueueEvents {
  queued: [job: JobRecord, position: number];
  started: [job: JobRecord];
  progress: [job: JobRecord, progress: JobProgress];
  succeeded: [job: JobRecord, result: unknown];
  failed: [job: JobRecord, error: FlowbotError | Error];
  cancelled: [job: JobRecord];
  /** Why a job waits, for the person who asked (commands/wait-notices.ts words it). */
  notice: [job: JobRecord, reason: WaitReason];
}

/**
 * Why a job waits or runs again: Redis is unreachable, no image worker is running, or the worker that
 * ran it stopped. A code, not words: the command layer says it in its own (commands/wait-notices.ts).
 */
export type WaitReason = 'redis-unreachable' | 'no-worker' | 'worker-stalled';

/** Options of {@link JobQueue}. */
export interface QueueOptions {
  readonly concurrency: number;
  readonly maxJobsPerUser: number;
  readonly timeoutMs: number;
  /** How often a job may be interrupted by crashes before recovery gives up on it. */
  readonly maxAttempts?: number;
  /** Minimum time between progress writes to the store for one job. */
  readonly progressWriteIntervalMs?: number;
}

/** Why a run was aborted. */
type AbortReason = 'cancelled' | 'timeout' | 'shutdown';

interface Running {
  readonly controller: AbortController;
  readonly job: JobRecord;
  reason?: AbortReason;
}

/** The fair, persistent, cancellable job queue. */
export class JobQueue extends EventEmitter<QueueEvents> {
  private readonly store: Store;
  private readonly options: Required<QueueOptions>;
  private readonly kinds = new Map<string, JobKind>();
  private readonly pq: PQueue;
  private readonly cheapLane = new FairLane();
  private readonly normalLane = new FairLane();
  private readonly running = new Map<string, Running>();
  private readonly settled = new Set<Promise<void>>();
  private readonly lastProgressWrite = new Map<string, number>();
  private closing = false;
  private concurrency: number;

  constructor(store: Store, options: QueueOptions) {
    super();
    this.store = store;
    this.options = { maxAttempts: 3, progressWriteIntervalMs: 250, ...options };
    this.concurrency = options.concurrency;
    this.pq = new PQueue({ concurrency: Math.max(1, options.concurrency) });
  }

  /**
   * Changes how many jobs run at once; 0 holds every job in line. With Redis this follows the live
   * workers' capacity, so that waiting jobs stay in this fair queue rather than in Redis.
   */
  setConcurrency(concurrency: number): void {
    this.concurrency = concurrency;
    this.pq.concurrency = Math.max(1, concurrency);
    this.pump();
  }

  /** Tells the owner of a queued or running job why it waits (emits `notice`). */
  notify(jobId: string, reason: WaitReason): void {
    const job = this.running.get(jobId)?.job ?? this.waitingOrder().find((waiting) => waiting.id === jobId);
    if (job) this.emit('notice', job, reason);
  }

  /** Registers how jobs of `kind` are run. */
  register(kind: string, definition: JobKind): this {
    this.kinds.set(kind, definition);
    return this;
  }

  /** Jobs waiting, not counting running ones. */
  get waitingCount(): number {
    return this.cheapLane.size + this.normalLane.size;
  }

  /** Jobs running now. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Records a job in the store and queues it, or refuses politely (shutting down, unknown kind, cap). */
  enqueue(input: Omit<NewJob, 'priority'>): Result<{ job: JobRecord; position: number }, UserError> {
    const queued = this.enqueueAll([input]);
    return queued.ok ? ok(queued.value[0]!) : queued;
  }

  /**
   * Queues the jobs of one request (permutations, `--repeat`) together or none: the request counts once
   * against the per-user cap, so a batch the commands layer allowed is never cut in half.
   */
  enqueueAll(
    inputs: readonly Omit<NewJob, 'priority'>[],
  ): Result<{ job: JobRecord; position: number }[], UserError> {
    const refused =
      inputs
        .map((input) => admissionRefusal(this.closing, this.kinds.has(input.kind) ? undefined : input.kind))
        .find((error) => error !== undefined) ??
      (inputs[0] ? this.userCapRefusal(inputs[0].userId) : undefined);
    if (refused) return err(refused);
    const priority = (kind: string) => (this.kinds.get(kind)!.cheap ? 1 : 0);
    const jobs = this.store.transaction(() =>
      inputs.map((input) => this.store.createJob({ ...input, priority: priority(input.kind) })),
    );
    const queued = jobs.map((job) => {
      this.laneOf(job).push(job);
      const position = this.positionOf(job.id);
      this.emit('queued', job, position);
      return { job, position };
    });
    this.pump();
    return ok(queued);
  }

  /** Why `userId` may not queue another job now (at their cap); undefined when they may. */
  userCapRefusal(userId: string): UserError | undefined {
    const active = this.activeCountOf(userId);
    if (active < this.options.maxJobsPerUser) return undefined;
    return new UserError(
      ErrorCode.QueueUserLimit,
      `You already have ${active} job${active === 1 ? '' : 's'} in progress (the limit is ${this.options.maxJobsPerUser}). Wait for one to finish, or cancel one.`,
      { active, limit: this.options.maxJobsPerUser },
    );
  }

  /** A user's queued plus running jobs. */
  activeCountOf(userId: string): number {
    let count = 0;
    for (const run of this.running.values()) if (run.job.userId === userId) count++;
    for (const job of [...this.cheapLane.order(), ...this.normalLane.order()])
      if (job.userId === userId) count++;
    return count;
  }

  /**
   * Place in line of a waiting job: 1 means next. Running jobs have position 0; unknown or finished
   * jobs -1.
   */
  positionOf(jobId: string): number {
    if (this.running.has(jobId)) return 0;
    const index = this.waitingOrder().findIndex((job) => job.id === jobId);
    return index === -1 ? -1 : index + 1;
  }

  /** Waiting jobs in the order they would be dispatched. */
  waitingOrder(): JobRecord[] {
    return [...this.cheapLane.order(), ...this.normalLane.order()];
  }

  /** A user's jobs with their positions (0 = running). */
  jobsOf(userId: string): { job: JobRecord; position: number }[] {
    const out: { job: JobRecord; position: number }[] = [];
    for (const run of this.running.values())
      if (run.job.userId === userId) out.push({ job: run.job, position: 0 });
    this.waitingOrder().forEach((job, index) => {
      if (job.userId === userId) out.push({ job, position: index + 1 });
    });
    return out;
  }

  /**
   * Cancels a queued or running job. Only its owner may cancel it, unless `asAdmin` is set.
   */
  cancel(jobId: string, userId: string, asAdmin = false): Result<JobRecord, UserError> {
    const stored = this.store.getJob(jobId);
    if (!stored) return err(new UserError(ErrorCode.JobNotFound, `There is no job ${jobId}.`));
    if (stored.userId !== userId && !asAdmin) {
      return err(
        new UserError(ErrorCode.JobNotYours, 'That job belongs to someone else; only they can cancel it.'),
      );
    }
    const waiting = this.cheapLane.remove(jobId) ?? this.normalLane.remove(jobId);
    if (waiting) {
      this.store.finishJob(jobId, 'cancelled', { error: 'cancelled by user' });
      this.emit('cancelled', this.store.getJob(jobId)!);
      return ok(this.store.getJob(jobId)!);
    }
    const run = this.running.get(jobId);
    if (run) {
      run.reason = 'cancelled';
      run.controller.abort(new UserError(ErrorCode.JobCancelled, 'Cancelled.'));
      return ok(stored);
    }
    return err(new UserError(ErrorCode.JobFinished, `Job ${jobId} has already finished (${stored.state}).`));
  }

  /**
   * Puts jobs that were queued or running when the process last stopped back into the queue.
   * A job whose kind is no longer registered, or that was interrupted too often, is failed with the
   * reason instead. Returns what happened to each.
   */
  recover(): { resumed: JobRecord[]; failed: JobRecord[] } {
    const resumed: JobRecord[] = [];
    const failed: JobRecord[] = [];
    for (const job of this.store.unfinishedJobs()) {
      if (this.running.has(job.id) || this.positionOf(job.id) > 0) continue;
      const reason = !this.kinds.has(job.kind)
        ? `flowbot no longer knows how to run "${job.kind}" jobs`
        : job.attempts >= this.options.maxAttempts
          ? `it was interrupted ${job.attempts} times by restarts, so I gave up on it`
          : undefined;
      if (reason) {
        this.store.finishJob(job.id, 'failed', { error: `Could not resume after a restart: ${reason}.` });
        const record = this.store.getJob(job.id)!;
        failed.push(record);
        this.emit('failed', record, new FlowbotError(ErrorCode.JobInterrupted, record.error!));
        continue;
      }
      if (job.state === 'running') this.store.markJobQueued(job.id);
      const record = this.store.getJob(job.id)!;
      this.laneOf(record).push(record);
      resumed.push(record);
    }
    if (resumed.length > 0) log.info('resumed jobs after restart', { count: resumed.length });
    for (const job of resumed) this.emit('queued', job, this.positionOf(job.id));
    this.pump();
    return { resumed, failed };
  }

  /** Resolves when nothing is waiting or running. */
  async onIdle(): Promise<void> {
    while (this.settled.size > 0) {
      await Promise.race([...this.settled]);
    }
  }

  /**
   * Stops taking jobs, gives running ones up to `graceMs` to finish, then aborts the rest. Jobs that
   * did not finish stay queued in the store and resume at the next start.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.cheapLane.clear();
    this.normalLane.clear();
    if (this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.all([...this.settled]), grace]);
      clearTimeout(timer);
      for (const run of this.running.values()) {
        run.reason = 'shutdown';
        run.controller.abort(new FlowbotError(ErrorCode.QueueClosed, 'flowbot is shutting down'));
      }
      await Promise.all([...this.settled]);
    }
    this.pq.clear();
  }

  private laneOf(job: JobRecord): FairLane {
    return job.priority > 0 ? this.cheapLane : this.normalLane;
  }

  /** Hands waiting jobs to p-queue while it has free slots. */
  private pump(): void {
    while (!this.closing && this.running.size < this.concurrency) {
      const job = this.cheapLane.shift() ?? this.normalLane.shift();
      if (!job) return;
      this.start(job);
    }
  }

  private start(queued: JobRecord): void {
    const kind = this.kinds.get(queued.kind)!;
    const controller = new AbortController();
    this.store.markJobRunning(queued.id);
    const job = this.store.getJob(queued.id)!;
    const run: Running = { controller, job };
    this.running.set(job.id, run);
    const timeoutMs = kind.timeoutMs ?? this.options.timeoutMs;
    const timer = setTimeout(() => {
      run.reason = 'timeout';
      controller.abort(
        new FlowbotError(ErrorCode.JobTimeout, `timed out after ${Math.round(timeoutMs / 1000)} s`),
      );
    }, timeoutMs);
    this.emit('started', job);
    const done = this.pq
      .add(() => this.execute(run, kind))
      .catch((error: unknown) => log.error('queue task failed unexpectedly', { job: job.id, error }))
      .finally(() => {
        clearTimeout(timer);
        this.running.delete(job.id);
        this.lastProgressWrite.delete(job.id);
        this.settled.delete(done);
        this.pump();
      });
    this.settled.add(done);
  }

  private async execute(run: Running, kind: JobKind): Promise<void> {
    const { job, controller } = run;
    const context: JobContext = {
      signal: controller.signal,
      reportProgress: (progress) => this.onProgress(job, progress),
    };
    if (controller.signal.aborted) {
      // Cancelled between dispatch and start: the handler never runs.
      this.settleFailure(run, controller.signal.reason);
      return;
    }
    const work = (async () => kind.handler(job, context))();
    // Settle the job's state as soon as it is aborted, even if the handler is slow to notice;
    // the slot stays taken until the handler really returns.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    try {
      const result = await Promise.race([work, aborted]);
      this.store.finishJob(job.id, 'succeeded', { result });
      this.emit('succeeded', this.store.getJob(job.id)!, result);
    } catch (error) {
      this.settleFailure(run, error);
    }
    await work.catch(() => undefined);
  }

  private settleFailure(run: Running, error: unknown): void {
    const { job } = run;
    if (run.reason === 'shutdown') {
      this.store.markJobQueued(job.id);
      log.info('job interrupted by shutdown; it will resume at next start', { job: job.id });
      return;
    }
    if (run.reason === 'cancelled') {
      this.store.finishJob(job.id, 'cancelled', { error: 'cancelled by user' });
      this.emit('cancelled', this.store.getJob(job.id)!);
      return;
    }
    const failure = asFlowbotError(error);
    // What is stored is what people are shown: a UserError's text, the timeout, or an apology with an
    // error id whose details are in the log.
    const message =
      run.reason === 'timeout'
        ? `The job ${failure.message}.`
        : publicMessage(failure, log, 'job failed', { job: job.id, kind: job.kind });
    this.store.finishJob(job.id, 'failed', { error: message });
    this.emit('failed', this.store.getJob(job.id)!, failure);
  }

  private onProgress(job: JobRecord, progress: JobProgress): void {
    if (!this.running.has(job.id)) return;
    const now = Date.now();
    const last = this.lastProgressWrite.get(job.id) ?? 0;
    if (now - last >= this.options.progressWriteIntervalMs || progress.step >= progress.total) {
      this.lastProgressWrite.set(job.id, now);
      this.store.setJobProgress(job.id, progress.total > 0 ? progress.step / progress.total : 0);
    }
    this.emit('progress', job, progress);
  }
}
