/**
 * The session store: every piece of state flowbot keeps, in one SQLite database (better-sqlite3, WAL).
 * All SQL lives under src/store/, one repository per concern (jobs, images and masks, chat messages,
 * conversation history, settings, conversation state, moderation); rows are parsed with zod, never cast. `Store`
 * opens the database, migrates it, and exposes the repositories; its older flat methods delegate to them.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ErrorCode, FlowbotError } from '../errors.js';
import {
  type ChatMessageRecord,
  ChatMessageRepository,
  type NewChatMessage,
} from './chat-message-repository.js';
import { ConversationRepository } from './conversation-repository.js';
import { type ChatLogEntry, HistoryRepository } from './history-repository.js';
import { type ImageRecord, ImageRepository, type MaskRecord, type NewImage } from './image-repository.js';
import { type JobRecord, JobRepository, type NewJob } from './job-repository.js';
import { MIGRATIONS } from './migrations.js';
import { ModerationRepository } from './moderation-repository.js';
import { type SettingScope, SettingsRepository } from './settings-repository.js';

export type { ChatMessageRecord, NewChatMessage } from './chat-message-repository.js';
export type { PendingProposal } from './conversation-repository.js';
export type { ChatLogEntry } from './history-repository.js';
export type { ImageOperation, ImageRecord, MaskRecord, MaskSource, NewImage } from './image-repository.js';
export { gridCellIds } from './image-repository.js';
export type { JobRecord, JobState, NewJob } from './job-repository.js';
export type {
  ModerationAction,
  ModerationScore,
  ModerationVerdict,
} from './moderation-repository.js';
export { MODERATION_ACTIONS } from './moderation-repository.js';
export type { SettingScope } from './settings-repository.js';

/** Options of {@link Store.open}. */
export interface StoreOptions {
  /** Clock, injectable for tests. */
  readonly now?: () => number;
}

const schemaVersion = z.number().int().nonnegative();

/** The session store. Open one per process with {@link Store.open}; close it on shutdown. */
export class Store {
  readonly db: Database.Database;
  /** Queued, running and finished jobs. */
  readonly jobs: JobRepository;
  /** Images, their lineage, and masks. */
  readonly images: ImageRepository;
  /** Which job, image or cell each posted chat message carries. */
  readonly chatMessages: ChatMessageRepository;
  /** The playground's conversation history. */
  readonly history: HistoryRepository;
  /** Settings per user, channel and the admin's global ones. */
  readonly scopedSettings: SettingsRepository;
  /** Redo stacks and pending proposals. */
  readonly conversations: ConversationRepository;
  /** Image moderation's scores and decisions. */
  readonly moderation: ModerationRepository;

  private constructor(db: Database.Database, options: StoreOptions) {
    this.db = db;
    const context = { db, now: options.now ?? Date.now };
    this.jobs = new JobRepository(context);
    this.images = new ImageRepository(context);
    this.chatMessages = new ChatMessageRepository(context);
    this.history = new HistoryRepository(context);
    this.scopedSettings = new SettingsRepository(context);
    this.conversations = new ConversationRepository(context);
    this.moderation = new ModerationRepository(context);
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
    return readSchemaVersion(this.db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- jobs (see JobRepository) -------------------------------------------------------------------

  createJob(input: NewJob): JobRecord {
    return this.jobs.create(input);
  }
  getJob(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }
  unfinishedJobs(): JobRecord[] {
    return this.jobs.unfinished();
  }
  activeJobsOf(userId: string): JobRecord[] {
    return this.jobs.activeOf(userId);
  }
  countJobsSince(userId: string, since: number): number {
    return this.jobs.countSince(userId, since);
  }
  nthJobTimeSince(userId: string, since: number, nth: number): number | undefined {
    return this.jobs.nthTimeSince(userId, since, nth);
  }
  countChargedJobsSince(userId: string, since: number): number {
    return this.jobs.countChargedSince(userId, since);
  }
  markJobRunning(id: string): void {
    this.jobs.markRunning(id);
  }
  markJobQueued(id: string): void {
    this.jobs.markQueued(id);
  }
  setJobProgress(id: string, progress: number): void {
    this.jobs.setProgress(id, progress);
  }
  finishJob(
    id: string,
    state: 'succeeded' | 'failed' | 'cancelled',
    details: { result?: unknown; error?: string } = {},
  ): void {
    this.jobs.finish(id, state, details);
  }

  // ---- images and masks (see ImageRepository) -------------------------------------------------------

  insertImage(input: NewImage): ImageRecord {
    return this.images.insert(input);
  }
  getImage(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }
  deleteImagesOfJob(jobId: string): number {
    return this.images.deleteOfJob(jobId);
  }
  imagesOfJob(jobId: string): ImageRecord[] {
    return this.images.ofJob(jobId);
  }
  lineage(id: string): ImageRecord[] {
    return this.images.lineage(id);
  }
  insertMask(input: Omit<MaskRecord, 'id' | 'createdAt'>): MaskRecord {
    return this.images.insertMask(input);
  }
  getMask(id: string): MaskRecord | undefined {
    return this.images.getMask(id);
  }

  // ---- chat messages (see ChatMessageRepository) -----------------------------------------------------

  recordChatMessage(input: NewChatMessage): void {
    this.chatMessages.record(input);
  }
  findChatMessage(platform: string, channelId: string, messageId: string): ChatMessageRecord | undefined {
    return this.chatMessages.find(platform, channelId, messageId);
  }
  findChatMessageAnywhere(platform: string, messageId: string): ChatMessageRecord | undefined {
    return this.chatMessages.findAnywhere(platform, messageId);
  }
  latestImageInThread(platform: string, channelId: string, threadId: string): ChatMessageRecord | undefined {
    return this.chatMessages.latestImageInThread(platform, channelId, threadId);
  }
  chatMessagesOfJob(jobId: string): ChatMessageRecord[] {
    return this.chatMessages.ofJob(jobId);
  }
  deleteChatMessage(platform: string, channelId: string, messageId: string): void {
    this.chatMessages.delete(platform, channelId, messageId);
  }
  chatMessagesOfImage(imageId: string): ChatMessageRecord[] {
    return this.chatMessages.ofImage(imageId);
  }

  // ---- conversation history (see HistoryRepository) ---------------------------------------------------

  logChat(entry: Omit<ChatLogEntry, 'seq' | 'createdAt'>): ChatLogEntry {
    return this.history.log(entry);
  }
  chatLog(platform: string, channelId: string, limit = 200): ChatLogEntry[] {
    return this.history.of(platform, channelId, limit);
  }
  chatLogEntry(messageId: string): ChatLogEntry | undefined {
    return this.history.entry(messageId);
  }
  deleteChatLog(messageId: string): void {
    this.history.delete(messageId);
  }

  // ---- settings (see SettingsRepository) ------------------------------------------------------------

  setSetting(scope: SettingScope, scopeId: string, key: string, value: unknown): void {
    this.scopedSettings.set(scope, scopeId, key, value);
  }
  settings(scope: SettingScope, scopeId: string): Record<string, unknown> {
    return this.scopedSettings.of(scope, scopeId);
  }
}

function readSchemaVersion(db: Database.Database): number {
  return schemaVersion.parse(db.pragma('user_version', { simple: true }));
}

function migrate(db: Database.Database): void {
  const current = readSchemaVersion(db);
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
        const broken = z.array(z.unknown()).parse(db.pragma('foreign_key_check'));
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
