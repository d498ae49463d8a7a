/** The jobs table: queued, running and finished jobs, their progress and results. */
import { z } from 'zod';
import {
  countOf,
  jsonColumn,
  optionalNumber,
  optionalText,
  parseOptionalRow,
  parseRows,
  type StoreContext,
  toJson,
  uniqueId,
} from './rows.js';

/** States a job moves through. */
export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/** A state a job moves through. */
export type JobState = (typeof JOB_STATES)[number];

const jobRow = z
  .object({
    id: z.string(),
    kind: z.string(),
    user_id: z.string(),
    channel_id: optionalText,
    platform: optionalText,
    params: jsonColumn,
    state: z.enum(JOB_STATES),
    priority: z.number(),
    progress: z.number(),
    error: optionalText,
    attempts: z.number(),
    result: jsonColumn,
    created_at: z.number(),
    started_at: optionalNumber,
    finished_at: optionalNumber,
  })
  .transform((row) => ({
    id: row.id,
    kind: row.kind,
    userId: row.user_id,
    channelId: row.channel_id,
    platform: row.platform,
    params: row.params,
    state: row.state,
    priority: row.priority,
    progress: row.progress,
    error: row.error,
    attempts: row.attempts,
    result: row.result,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }));

/**
 * A job as stored. `params` and `result` are the JSON values the caller gave; their shape depends on
 * the job's kind, which the queue and the pipeline check with the job-parameter schemas.
 */
export type JobRecord = Readonly<z.output<typeof jobRow>>;

/** What is needed to record a new job. */
export interface NewJob {
  readonly kind: string;
  readonly userId: string;
  readonly channelId?: string | null;
  readonly platform?: string | null;
  readonly params: unknown;
  readonly priority?: number;
}

const seqRow = z.object({ seq: z.number() });
const createdAtRow = z.object({ createdAt: z.number() });

/** Jobs: what is queued, running and done, and how many a person made lately. */
export class JobRepository {
  private readonly sql;

  constructor(private readonly context: StoreContext) {
    this.sql = prepare(context.db);
  }

  /** Records a new queued job and returns it. */
  create(input: NewJob): JobRecord {
    return this.context.db.transaction(() => {
      const id = uniqueId((candidate) => this.sql.exists.get(candidate) !== undefined);
      this.sql.insert.run({
        id,
        kind: input.kind,
        user_id: input.userId,
        channel_id: input.channelId ?? null,
        platform: input.platform ?? null,
        params: JSON.stringify(input.params ?? null),
        priority: input.priority ?? 0,
        created_at: this.context.now(),
        seq: seqRow.parse(this.sql.nextSeq.get()).seq,
      });
      return jobRow.parse(this.sql.get.get(id));
    })();
  }

  get(id: string): JobRecord | undefined {
    return parseOptionalRow(jobRow, this.sql.get.get(id));
  }

  /** Jobs that were queued or running, oldest first: what must resume after a restart. */
  unfinished(): JobRecord[] {
    return parseRows(jobRow, this.sql.unfinished.all());
  }

  /** A user's queued and running jobs, oldest first. */
  activeOf(userId: string): JobRecord[] {
    return parseRows(jobRow, this.sql.activeOf.all(userId));
  }

  /** How many jobs a user created since a time (for rate limits). */
  countSince(userId: string, since: number): number {
    return countOf(this.sql.countSince.get(userId, since));
  }

  /** When the `nth` (1: the oldest) of a user's jobs created since a time was created; undefined when fewer. */
  nthTimeSince(userId: string, since: number, nth: number): number | undefined {
    return parseOptionalRow(createdAtRow, this.sql.nthTimeSince.get(userId, since, nth - 1))?.createdAt;
  }

  /** A person's jobs since `since` that count against a quota: all but failed and cancelled ones. */
  countChargedSince(userId: string, since: number): number {
    return countOf(this.sql.countChargedSince.get(userId, since));
  }

  /** Marks a job running and counts the attempt. */
  markRunning(id: string): void {
    this.sql.markRunning.run({ id, now: this.context.now() });
  }

  /** Puts a job back into the queued state (after an interrupted run, or on shutdown). */
  markQueued(id: string): void {
    this.sql.markQueued.run(id);
  }

  /** Stores a running job's progress, 0–1. */
  setProgress(id: string, progress: number): void {
    this.sql.setProgress.run({ id, progress: Math.min(1, Math.max(0, progress)) });
  }

  /** Ends a job in a final state. */
  finish(
    id: string,
    state: 'succeeded' | 'failed' | 'cancelled',
    details: { result?: unknown; error?: string },
  ): void {
    this.sql.finish.run({
      id,
      state,
      result: toJson(details.result),
      error: details.error ?? null,
      now: this.context.now(),
    });
  }
}

function prepare(db: StoreContext['db']) {
  return {
    exists: db.prepare('SELECT 1 FROM jobs WHERE id = ?'),
    nextSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM jobs'),
    insert: db.prepare(
      `INSERT INTO jobs (id, kind, user_id, channel_id, platform, params, state, priority, created_at, seq)
       VALUES (@id, @kind, @user_id, @channel_id, @platform, @params, 'queued', @priority, @created_at, @seq)`,
    ),
    get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
    countSince: db.prepare('SELECT COUNT(*) AS count FROM jobs WHERE user_id = ? AND created_at >= ?'),
    nthTimeSince: db.prepare(
      'SELECT created_at AS createdAt FROM jobs WHERE user_id = ? AND created_at >= ? ORDER BY created_at, seq LIMIT 1 OFFSET ?',
    ),
    countChargedSince: db.prepare(
      "SELECT COUNT(*) AS count FROM jobs WHERE user_id = ? AND created_at >= ? AND state NOT IN ('failed', 'cancelled')",
    ),
    unfinished: db.prepare("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY seq"),
    activeOf: db.prepare(
      "SELECT * FROM jobs WHERE user_id = ? AND state IN ('queued', 'running') ORDER BY seq",
    ),
    markRunning: db.prepare(
      "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = @now, progress = 0 WHERE id = @id",
    ),
    markQueued: db.prepare("UPDATE jobs SET state = 'queued', progress = 0 WHERE id = ?"),
    setProgress: db.prepare('UPDATE jobs SET progress = @progress WHERE id = @id'),
    finish: db.prepare(
      `UPDATE jobs SET state = @state, result = @result, error = @error, finished_at = @now,
         progress = CASE WHEN @state = 'succeeded' THEN 1 ELSE progress END
       WHERE id = @id`,
    ),
  };
}
