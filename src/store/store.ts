/**
 * The session store: every piece of state flowbot keeps, in one SQLite database (better-sqlite3, WAL).
 * All SQL lives in this module; callers see typed records. Statements are prepared once.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, FlowbotError } from '../errors.js';
import { shortId } from '../ids.js';
import { MIGRATIONS } from './migrations.js';

/** States a job moves through. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** Operations that produce an image. */
/** What made an image; `edit` is an exact pixel edit (darker, mirror, crop …) with no diffusion. */
export type ImageOperation = 'generate' | 'variation' | 'inpaint' | 'upscale' | 'grid' | 'edit';
/** Where a mask came from. */
export type MaskSource = 'region' | 'cells' | 'rect' | 'upload' | 'drawing';
/** Scopes settings can be stored under. */
export type SettingScope = 'user' | 'channel' | 'global';

/** A job as stored. `params` and `result` are the JSON values the caller gave. */
export interface JobRecord {
  readonly id: string;
  readonly kind: string;
  readonly userId: string;
  readonly channelId: string | null;
  readonly platform: string | null;
  readonly params: unknown;
  readonly state: JobState;
  readonly priority: number;
  readonly progress: number;
  readonly error: string | null;
  readonly attempts: number;
  readonly result: unknown;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

/** What is needed to record a new job. */
export interface NewJob {
  readonly kind: string;
  readonly userId: string;
  readonly channelId?: string | null;
  readonly platform?: string | null;
  readonly params: unknown;
  readonly priority?: number;
}

/** An image as stored. */
export interface ImageRecord {
  readonly id: string;
  readonly parentId: string | null;
  readonly rootId: string;
  readonly operation: ImageOperation;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly guidance: number;
  readonly scheduler: string;
  readonly model: string;
  readonly width: number;
  readonly height: number;
  readonly strength: number | null;
  readonly maskId: string | null;
  readonly filePath: string;
  readonly sha256: string;
  readonly userId: string;
  readonly jobId: string | null;
  readonly cell: number | null;
  readonly extra: unknown;
  readonly createdAt: number;
}

/** What is needed to record a new image; the id and root are assigned by the store. */
export type NewImage = Omit<
  ImageRecord,
  | 'id'
  | 'rootId'
  | 'createdAt'
  | 'parentId'
  | 'strength'
  | 'maskId'
  | 'jobId'
  | 'cell'
  | 'extra'
  | 'negativePrompt'
> & {
  readonly parentId?: string | null;
  readonly negativePrompt?: string;
  readonly strength?: number | null;
  readonly maskId?: string | null;
  readonly jobId?: string | null;
  readonly cell?: number | null;
  readonly extra?: unknown;
};

/** A mask as stored. */
export interface MaskRecord {
  readonly id: string;
  readonly source: MaskSource;
  readonly spec: string;
  readonly filePath: string;
  readonly sha256: string;
  readonly width: number;
  readonly height: number;
  readonly userId: string | null;
  readonly createdAt: number;
}

/** A chat message that carries a job's progress, an image or a grid. */
export interface ChatMessageRecord {
  readonly platform: string;
  readonly channelId: string;
  readonly messageId: string;
  readonly threadId: string | null;
  readonly jobId: string | null;
  readonly imageId: string | null;
  readonly cell: number | null;
  readonly createdAt: number;
}

type Row = Record<string, unknown>;

const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
const parseJson = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : null);

function toJob(row: Row): JobRecord {
  return {
    id: row.id as string,
    kind: row.kind as string,
    userId: row.user_id as string,
    channelId: (row.channel_id as string | null) ?? null,
    platform: (row.platform as string | null) ?? null,
    params: parseJson(row.params),
    state: row.state as JobState,
    priority: row.priority as number,
    progress: row.progress as number,
    error: (row.error as string | null) ?? null,
    attempts: row.attempts as number,
    result: parseJson(row.result),
    createdAt: row.created_at as number,
    startedAt: (row.started_at as number | null) ?? null,
    finishedAt: (row.finished_at as number | null) ?? null,
  };
}

function toImage(row: Row): ImageRecord {
  return {
    id: row.id as string,
    parentId: (row.parent_id as string | null) ?? null,
    rootId: row.root_id as string,
    operation: row.operation as ImageOperation,
    prompt: row.prompt as string,
    negativePrompt: row.negative_prompt as string,
    seed: row.seed as number,
    steps: row.steps as number,
    guidance: row.guidance as number,
    scheduler: row.scheduler as string,
    model: row.model as string,
    width: row.width as number,
    height: row.height as number,
    strength: (row.strength as number | null) ?? null,
    maskId: (row.mask_id as string | null) ?? null,
    filePath: row.file_path as string,
    sha256: row.sha256 as string,
    userId: row.user_id as string,
    jobId: (row.job_id as string | null) ?? null,
    cell: (row.cell as number | null) ?? null,
    extra: parseJson(row.extra),
    createdAt: row.created_at as number,
  };
}

function toMask(row: Row): MaskRecord {
  return {
    id: row.id as string,
    source: row.source as MaskSource,
    spec: row.spec as string,
    filePath: row.file_path as string,
    sha256: row.sha256 as string,
    width: row.width as number,
    height: row.height as number,
    userId: (row.user_id as string | null) ?? null,
    createdAt: row.created_at as number,
  };
}

function toChatMessage(row: Row): ChatMessageRecord {
  return {
    platform: row.platform as string,
    channelId: row.channel_id as string,
    messageId: row.message_id as string,
    threadId: (row.thread_id as string | null) ?? null,
    jobId: (row.job_id as string | null) ?? null,
    imageId: (row.image_id as string | null) ?? null,
    cell: (row.cell as number | null) ?? null,
    createdAt: row.created_at as number,
  };
}

/** One line of a playground conversation. */
export interface ChatLogEntry {
  readonly seq: number;
  readonly platform: string;
  readonly channelId: string;
  readonly messageId: string;
  readonly author: string;
  readonly fromBot: boolean;
  readonly text: string;
  readonly replyTo: string | null;
  readonly jobId: string | null;
  readonly imageId: string | null;
  readonly createdAt: number;
}

function toChatLog(row: Row): ChatLogEntry {
  return {
    seq: row.seq as number,
    platform: row.platform as string,
    channelId: row.channel_id as string,
    messageId: row.message_id as string,
    author: row.author as string,
    fromBot: row.from_bot === 1,
    text: row.text as string,
    replyTo: (row.reply_to as string | null) ?? null,
    jobId: (row.job_id as string | null) ?? null,
    imageId: (row.image_id as string | null) ?? null,
    createdAt: row.created_at as number,
  };
}

/** Options of {@link Store.open}. */
export interface StoreOptions {
  /** Clock, injectable for tests. */
  readonly now?: () => number;
}

/** The session store. Open one per process with {@link Store.open}; close it on shutdown. */
export class Store {
  readonly db: Database.Database;
  private readonly now: () => number;
  private readonly sql;

  private constructor(db: Database.Database, options: StoreOptions) {
    this.db = db;
    this.now = options.now ?? Date.now;
    this.sql = prepareStatements(db);
  }

  /** Opens (creating if needed) the database file and brings its schema up to date. */
  static open(file: string, options: StoreOptions = {}): Store {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return new Store(db, options);
  }

  /** The schema version reached. */
  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- jobs -------------------------------------------------------------------------------------

  /** Records a new queued job and returns it. */
  createJob(input: NewJob): JobRecord {
    return this.transaction(() => {
      const id = this.uniqueId((candidate) => this.sql.jobExists.get(candidate) !== undefined);
      const seq = (this.sql.nextJobSeq.get() as { seq: number }).seq;
      this.sql.insertJob.run({
        id,
        kind: input.kind,
        user_id: input.userId,
        channel_id: input.channelId ?? null,
        platform: input.platform ?? null,
        params: JSON.stringify(input.params ?? null),
        priority: input.priority ?? 0,
        created_at: this.now(),
        seq,
      });
      return this.getJob(id)!;
    });
  }

  getJob(id: string): JobRecord | undefined {
    const row = this.sql.getJob.get(id) as Row | undefined;
    return row ? toJob(row) : undefined;
  }

  /** Jobs that were queued or running, oldest first: what must resume after a restart. */
  unfinishedJobs(): JobRecord[] {
    return (this.sql.unfinishedJobs.all() as Row[]).map(toJob);
  }

  /** A user's queued and running jobs, oldest first. */
  activeJobsOf(userId: string): JobRecord[] {
    return (this.sql.activeJobsOf.all(userId) as Row[]).map(toJob);
  }

  /** How many jobs a user created since a time (for rate limits). */
  countJobsSince(userId: string, since: number): number {
    return (this.sql.countJobsSince.get(userId, since) as { count: number }).count;
  }

  /**
   * When the `nth` (1: the oldest) of a user's jobs created since a time was created; undefined when
   * there are fewer. Says when an hourly limit opens again.
   */
  nthJobTimeSince(userId: string, since: number, nth: number): number | undefined {
    const row = this.sql.nthJobTimeSince.get(userId, since, nth - 1) as { createdAt: number } | undefined;
    return row?.createdAt;
  }

  /** A person's jobs since `since` that count against a quota: all but failed and cancelled ones. */
  countChargedJobsSince(userId: string, since: number): number {
    return (this.sql.countChargedJobsSince.get(userId, since) as { count: number }).count;
  }

  /** Marks a job running and counts the attempt. */
  markJobRunning(id: string): void {
    this.sql.markRunning.run({ id, now: this.now() });
  }

  /** Puts a job back into the queued state (after an interrupted run, or on shutdown). */
  markJobQueued(id: string): void {
    this.sql.markQueued.run(id);
  }

  /** Stores a running job's progress, 0–1. */
  setJobProgress(id: string, progress: number): void {
    this.sql.setProgress.run({ id, progress: Math.min(1, Math.max(0, progress)) });
  }

  /** Ends a job in a final state. */
  finishJob(
    id: string,
    state: 'succeeded' | 'failed' | 'cancelled',
    details: { result?: unknown; error?: string } = {},
  ): void {
    this.sql.finish.run({
      id,
      state,
      result: json(details.result),
      error: details.error ?? null,
      now: this.now(),
    });
  }

  // ---- images and masks ----------------------------------------------------------------------------

  /** Records an image whose file has already been written; returns it with its new id. */
  insertImage(input: NewImage): ImageRecord {
    return this.transaction(() => {
      const id = this.uniqueId((candidate) => this.sql.imageExists.get(candidate) !== undefined);
      const parentId = input.parentId ?? null;
      const parent = parentId ? this.getImage(parentId) : undefined;
      if (parentId && !parent)
        throw new FlowbotError(ErrorCode.StoreCorrupt, `Parent image ${parentId} does not exist`);
      this.sql.insertImage.run({
        id,
        parent_id: parentId,
        root_id: parent ? parent.rootId : id,
        operation: input.operation,
        prompt: input.prompt,
        negative_prompt: input.negativePrompt ?? '',
        seed: input.seed,
        steps: input.steps,
        guidance: input.guidance,
        scheduler: input.scheduler,
        model: input.model,
        width: input.width,
        height: input.height,
        strength: input.strength ?? null,
        mask_id: input.maskId ?? null,
        file_path: input.filePath,
        sha256: input.sha256,
        user_id: input.userId,
        job_id: input.jobId ?? null,
        cell: input.cell ?? null,
        extra: json(input.extra),
        created_at: this.now(),
      });
      return this.getImage(id)!;
    });
  }

  getImage(id: string): ImageRecord | undefined {
    const row = this.sql.getImage.get(id.toLowerCase()) as Row | undefined;
    return row ? toImage(row) : undefined;
  }

  /**
   * Removes the images an interrupted delivery of a job recorded before the job was marked finished;
   * nothing refers to them yet. Their files stay (content-addressed, shared with any identical image).
   */
  deleteImagesOfJob(jobId: string): number {
    return this.sql.deleteImagesOfJob.run(jobId).changes;
  }

  /** Images a job produced, in cell order. */
  imagesOfJob(jobId: string): ImageRecord[] {
    return (this.sql.imagesOfJob.all(jobId) as Row[]).map(toImage);
  }

  /** The image and its ancestors, the image first and the root last. */
  lineage(id: string): ImageRecord[] {
    return (this.sql.lineage.all(id.toLowerCase()) as Row[]).map(toImage);
  }

  /** Records a mask whose file has already been written. */
  insertMask(input: Omit<MaskRecord, 'id' | 'createdAt'>): MaskRecord {
    const id = this.uniqueId((candidate) => this.sql.maskExists.get(candidate) !== undefined);
    this.sql.insertMask.run({
      id,
      source: input.source,
      spec: input.spec,
      file_path: input.filePath,
      sha256: input.sha256,
      width: input.width,
      height: input.height,
      user_id: input.userId,
      created_at: this.now(),
    });
    return this.getMask(id)!;
  }

  getMask(id: string): MaskRecord | undefined {
    const row = this.sql.getMask.get(id) as Row | undefined;
    return row ? toMask(row) : undefined;
  }

  // ---- chat messages -------------------------------------------------------------------------------

  /** Remembers which job, image or grid cell a chat message carries (replaces an earlier mapping). */
  recordChatMessage(
    input: Omit<ChatMessageRecord, 'createdAt' | 'threadId' | 'jobId' | 'imageId' | 'cell'> &
      Partial<Pick<ChatMessageRecord, 'threadId' | 'jobId' | 'imageId' | 'cell'>>,
  ): void {
    this.sql.upsertChatMessage.run({
      platform: input.platform,
      channel_id: input.channelId,
      message_id: input.messageId,
      thread_id: input.threadId ?? null,
      job_id: input.jobId ?? null,
      image_id: input.imageId ?? null,
      cell: input.cell ?? null,
      created_at: this.now(),
    });
  }

  findChatMessage(platform: string, channelId: string, messageId: string): ChatMessageRecord | undefined {
    const row = this.sql.getChatMessage.get(platform, channelId, messageId) as Row | undefined;
    return row ? toChatMessage(row) : undefined;
  }

  /** Messages that carry a job's status or result. */
  /** A message by its id in any channel (a Discord thread's starter message lives in the parent channel). */
  findChatMessageAnywhere(platform: string, messageId: string): ChatMessageRecord | undefined {
    const row = this.sql.findChatMessageAnywhere.get(platform, messageId) as Row | undefined;
    return row ? toChatMessage(row) : undefined;
  }

  /**
   * The latest message with an image in a conversation thread: a Slack thread (messages whose
   * thread_id is the root's ts, and the root) or a Discord thread (its own channel).
   */
  latestImageInThread(platform: string, channelId: string, threadId: string): ChatMessageRecord | undefined {
    const row = this.sql.latestImageInThread.get({ platform, channel: channelId, thread: threadId }) as
      | Row
      | undefined;
    return row ? toChatMessage(row) : undefined;
  }

  chatMessagesOfJob(jobId: string): ChatMessageRecord[] {
    return (this.sql.chatMessagesOfJob.all(jobId) as Row[]).map(toChatMessage);
  }

  /** Forgets a message (when it was deleted). */
  deleteChatMessage(platform: string, channelId: string, messageId: string): void {
    this.sql.deleteChatMessage.run(platform, channelId, messageId);
  }

  /** Messages that carry an image, newest first (to thread later results under it). */
  chatMessagesOfImage(imageId: string): ChatMessageRecord[] {
    return (this.sql.chatMessagesOfImage.all(imageId) as Row[]).map(toChatMessage);
  }

  // ---- conversation log (the web playground's history) -------------------------------------------

  /** Appends a line to a conversation, or replaces the line with the same message id. */
  logChat(entry: Omit<ChatLogEntry, 'seq' | 'createdAt'>): ChatLogEntry {
    this.sql.upsertChatLog.run({
      platform: entry.platform,
      channel_id: entry.channelId,
      message_id: entry.messageId,
      author: entry.author,
      from_bot: entry.fromBot ? 1 : 0,
      text: entry.text,
      reply_to: entry.replyTo,
      job_id: entry.jobId,
      image_id: entry.imageId,
      created_at: this.now(),
    });
    return toChatLog(this.sql.getChatLog.get(entry.messageId) as Row);
  }

  /** The last `limit` lines of a conversation, oldest first. */
  chatLog(platform: string, channelId: string, limit = 200): ChatLogEntry[] {
    return (this.sql.chatLogOf.all(platform, channelId, limit) as Row[]).map(toChatLog).reverse();
  }

  /** One logged line. */
  chatLogEntry(messageId: string): ChatLogEntry | undefined {
    const row = this.sql.getChatLog.get(messageId) as Row | undefined;
    return row ? toChatLog(row) : undefined;
  }

  /** Removes a logged line (a deleted result). */
  deleteChatLog(messageId: string): void {
    this.sql.deleteChatLog.run(messageId);
  }

  // ---- settings -------------------------------------------------------------------------------------

  /** Sets one setting; `undefined` removes it. */
  setSetting(scope: SettingScope, scopeId: string, key: string, value: unknown): void {
    if (value === undefined) this.sql.deleteSetting.run(scope, scopeId, key);
    else
      this.sql.upsertSetting.run({
        scope,
        scope_id: scopeId,
        key,
        value: JSON.stringify(value),
        now: this.now(),
      });
  }

  /** Every setting of one scope, as a key → value object. */
  settings(scope: SettingScope, scopeId: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const row of this.sql.settingsOf.all(scope, scopeId) as Row[]) {
      out[row.key as string] = JSON.parse(row.value as string);
    }
    return out;
  }

  private uniqueId(exists: (candidate: string) => boolean): string {
    for (let length = 6; ; length++) {
      for (let attempt = 0; attempt < 8; attempt++) {
        const candidate = shortId(length);
        if (!exists(candidate)) return candidate;
      }
    }
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = MIGRATIONS.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new FlowbotError(
      ErrorCode.StoreCorrupt,
      `The database has schema version ${current}, newer than this flowbot understands (${latest}); upgrade flowbot.`,
    );
  }
  // SQLite's way to rebuild a table (a changed CHECK constraint): foreign keys off around the
  // migrations (it cannot change inside a transaction), checked before each commits.
  db.pragma('foreign_keys = OFF');
  try {
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.transaction(() => {
        db.exec(migration.sql);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) {
          throw new FlowbotError(
            ErrorCode.StoreCorrupt,
            `Migration ${migration.version} (${migration.name}) left ${broken.length} broken references.`,
          );
        }
        db.pragma(`user_version = ${migration.version}`);
      })();
    }
  } finally {
    db.pragma('foreign_keys = ON');
  }
}

function prepareStatements(db: Database.Database) {
  return {
    jobExists: db.prepare('SELECT 1 FROM jobs WHERE id = ?'),
    nextJobSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM jobs'),
    insertJob: db.prepare(
      `INSERT INTO jobs (id, kind, user_id, channel_id, platform, params, state, priority, created_at, seq)
       VALUES (@id, @kind, @user_id, @channel_id, @platform, @params, 'queued', @priority, @created_at, @seq)`,
    ),
    getJob: db.prepare('SELECT * FROM jobs WHERE id = ?'),
    countJobsSince: db.prepare('SELECT COUNT(*) AS count FROM jobs WHERE user_id = ? AND created_at >= ?'),
    nthJobTimeSince: db.prepare(
      'SELECT created_at AS createdAt FROM jobs WHERE user_id = ? AND created_at >= ? ORDER BY created_at, seq LIMIT 1 OFFSET ?',
    ),
    countChargedJobsSince: db.prepare(
      "SELECT COUNT(*) AS count FROM jobs WHERE user_id = ? AND created_at >= ? AND state NOT IN ('failed', 'cancelled')",
    ),
    unfinishedJobs: db.prepare("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY seq"),
    activeJobsOf: db.prepare(
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
    imageExists: db.prepare('SELECT 1 FROM images WHERE id = ?'),
    insertImage: db.prepare(
      `INSERT INTO images (id, parent_id, root_id, operation, prompt, negative_prompt, seed, steps, guidance, scheduler,
         model, width, height, strength, mask_id, file_path, sha256, user_id, job_id, cell, extra, created_at)
       VALUES (@id, @parent_id, @root_id, @operation, @prompt, @negative_prompt, @seed, @steps, @guidance, @scheduler,
         @model, @width, @height, @strength, @mask_id, @file_path, @sha256, @user_id, @job_id, @cell, @extra, @created_at)`,
    ),
    getImage: db.prepare('SELECT * FROM images WHERE id = ?'),
    imagesOfJob: db.prepare('SELECT * FROM images WHERE job_id = ? ORDER BY cell, created_at'),
    deleteImagesOfJob: db.prepare('DELETE FROM images WHERE job_id = ?'),
    lineage: db.prepare(
      `WITH RECURSIVE chain(id, depth) AS (
         SELECT id, 0 FROM images WHERE id = ?
         UNION ALL
         SELECT images.parent_id, chain.depth + 1 FROM images JOIN chain ON images.id = chain.id
         WHERE images.parent_id IS NOT NULL AND chain.depth < 1000
       )
       SELECT images.* FROM chain JOIN images ON images.id = chain.id ORDER BY chain.depth`,
    ),
    maskExists: db.prepare('SELECT 1 FROM masks WHERE id = ?'),
    insertMask: db.prepare(
      `INSERT INTO masks (id, source, spec, file_path, sha256, width, height, user_id, created_at)
       VALUES (@id, @source, @spec, @file_path, @sha256, @width, @height, @user_id, @created_at)`,
    ),
    getMask: db.prepare('SELECT * FROM masks WHERE id = ?'),
    upsertChatMessage: db.prepare(
      `INSERT INTO chat_messages (platform, channel_id, message_id, thread_id, job_id, image_id, cell, created_at)
       VALUES (@platform, @channel_id, @message_id, @thread_id, @job_id, @image_id, @cell, @created_at)
       ON CONFLICT (platform, channel_id, message_id) DO UPDATE SET
         thread_id = excluded.thread_id, job_id = excluded.job_id, image_id = excluded.image_id, cell = excluded.cell`,
    ),
    getChatMessage: db.prepare(
      'SELECT * FROM chat_messages WHERE platform = ? AND channel_id = ? AND message_id = ?',
    ),
    chatMessagesOfJob: db.prepare('SELECT * FROM chat_messages WHERE job_id = ? ORDER BY created_at'),
    findChatMessageAnywhere: db.prepare(
      'SELECT * FROM chat_messages WHERE platform = ? AND message_id = ? ORDER BY created_at LIMIT 1',
    ),
    latestImageInThread: db.prepare(
      `SELECT * FROM chat_messages WHERE platform = @platform AND image_id IS NOT NULL
         AND ((channel_id = @channel AND thread_id = @thread) OR channel_id = @thread OR message_id = @thread)
       ORDER BY created_at DESC, rowid DESC LIMIT 1`,
    ),
    deleteChatMessage: db.prepare(
      'DELETE FROM chat_messages WHERE platform = ? AND channel_id = ? AND message_id = ?',
    ),
    chatMessagesOfImage: db.prepare(
      'SELECT * FROM chat_messages WHERE image_id = ? ORDER BY created_at DESC',
    ),
    upsertChatLog: db.prepare(
      `INSERT INTO chat_log (platform, channel_id, message_id, author, from_bot, text, reply_to, job_id, image_id, created_at)
       VALUES (@platform, @channel_id, @message_id, @author, @from_bot, @text, @reply_to, @job_id, @image_id, @created_at)
       ON CONFLICT (message_id) DO UPDATE SET text = excluded.text, job_id = excluded.job_id, image_id = excluded.image_id`,
    ),
    getChatLog: db.prepare('SELECT * FROM chat_log WHERE message_id = ?'),
    chatLogOf: db.prepare(
      'SELECT * FROM chat_log WHERE platform = ? AND channel_id = ? ORDER BY seq DESC LIMIT ?',
    ),
    deleteChatLog: db.prepare('DELETE FROM chat_log WHERE message_id = ?'),
    upsertSetting: db.prepare(
      `INSERT INTO settings (scope, scope_id, key, value, updated_at) VALUES (@scope, @scope_id, @key, @value, @now)
       ON CONFLICT (scope, scope_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    ),
    deleteSetting: db.prepare('DELETE FROM settings WHERE scope = ? AND scope_id = ? AND key = ?'),
    settingsOf: db.prepare('SELECT key, value FROM settings WHERE scope = ? AND scope_id = ? ORDER BY key'),
  };
}
