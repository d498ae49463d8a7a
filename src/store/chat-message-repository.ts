/**
 * The chat_messages table: which job, image or grid cell each message flowbot posted carries, so a
 * reply, a button or a reaction finds its image again.
 */
import { z } from 'zod';
import { optionalNumber, optionalText, parseOptionalRow, parseRows, type StoreContext } from './rows.js';

const chatMessageRow = z
  .object({
    platform: z.string(),
    channel_id: z.string(),
    message_id: z.string(),
    thread_id: optionalText,
    job_id: optionalText,
    image_id: optionalText,
    cell: optionalNumber,
    created_at: z.number(),
  })
  .transform((row) => ({
    platform: row.platform,
    channelId: row.channel_id,
    messageId: row.message_id,
    threadId: row.thread_id,
    jobId: row.job_id,
    imageId: row.image_id,
    cell: row.cell,
    createdAt: row.created_at,
  }));

/** A chat message that carries a job's progress, an image or a grid. */
export type ChatMessageRecord = Readonly<z.output<typeof chatMessageRow>>;

/** What recording a message needs: where it is, and optionally what it carries. */
export type NewChatMessage = Omit<
  ChatMessageRecord,
  'createdAt' | 'threadId' | 'jobId' | 'imageId' | 'cell'
> &
  Partial<Pick<ChatMessageRecord, 'threadId' | 'jobId' | 'imageId' | 'cell'>>;

/** Chat messages and what they carry. */
export class ChatMessageRepository {
  private readonly sql;

  constructor(private readonly context: StoreContext) {
    this.sql = prepare(context.db);
  }

  /** Remembers which job, image or grid cell a chat message carries (replaces an earlier mapping). */
  record(input: NewChatMessage): void {
    this.sql.upsert.run({
      platform: input.platform,
      channel_id: input.channelId,
      message_id: input.messageId,
      thread_id: input.threadId ?? null,
      job_id: input.jobId ?? null,
      image_id: input.imageId ?? null,
      cell: input.cell ?? null,
      created_at: this.context.now(),
    });
  }

  find(platform: string, channelId: string, messageId: string): ChatMessageRecord | undefined {
    return parseOptionalRow(chatMessageRow, this.sql.get.get(platform, channelId, messageId));
  }

  /** A message by its id in any channel (a Discord thread's starter message lives in the parent channel). */
  findAnywhere(platform: string, messageId: string): ChatMessageRecord | undefined {
    return parseOptionalRow(chatMessageRow, this.sql.findAnywhere.get(platform, messageId));
  }

  /**
   * The latest message with an image in a conversation thread: a Slack thread (messages whose
   * thread_id is the root's ts, and the root) or a Discord thread (its own channel).
   */
  latestImageInThread(platform: string, channelId: string, threadId: string): ChatMessageRecord | undefined {
    return parseOptionalRow(
      chatMessageRow,
      this.sql.latestImageInThread.get({ platform, channel: channelId, thread: threadId }),
    );
  }

  /** Messages that carry a job's status or result. */
  ofJob(jobId: string): ChatMessageRecord[] {
    return parseRows(chatMessageRow, this.sql.ofJob.all(jobId));
  }

  /** Messages that carry an image, newest first (to thread later results under it). */
  ofImage(imageId: string): ChatMessageRecord[] {
    return parseRows(chatMessageRow, this.sql.ofImage.all(imageId));
  }

  /** Forgets a message (when it was deleted). */
  delete(platform: string, channelId: string, messageId: string): void {
    this.sql.delete.run(platform, channelId, messageId);
  }
}

function prepare(db: StoreContext['db']) {
  return {
    upsert: db.prepare(
      `INSERT INTO chat_messages (platform, channel_id, message_id, thread_id, job_id, image_id, cell, created_at)
       VALUES (@platform, @channel_id, @message_id, @thread_id, @job_id, @image_id, @cell, @created_at)
       ON CONFLICT (platform, channel_id, message_id) DO UPDATE SET
         thread_id = excluded.thread_id, job_id = excluded.job_id, image_id = excluded.image_id, cell = excluded.cell`,
    ),
    get: db.prepare('SELECT * FROM chat_messages WHERE platform = ? AND channel_id = ? AND message_id = ?'),
    ofJob: db.prepare('SELECT * FROM chat_messages WHERE job_id = ? ORDER BY created_at'),
    findAnywhere: db.prepare(
      'SELECT * FROM chat_messages WHERE platform = ? AND message_id = ? ORDER BY created_at LIMIT 1',
    ),
    latestImageInThread: db.prepare(
      `SELECT * FROM chat_messages WHERE platform = @platform AND image_id IS NOT NULL
         AND ((channel_id = @channel AND thread_id = @thread) OR channel_id = @thread OR message_id = @thread)
       ORDER BY created_at DESC, rowid DESC LIMIT 1`,
    ),
    delete: db.prepare('DELETE FROM chat_messages WHERE platform = ? AND channel_id = ? AND message_id = ?'),
    ofImage: db.prepare('SELECT * FROM chat_messages WHERE image_id = ? ORDER BY created_at DESC'),
  };
}
