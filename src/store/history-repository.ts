/** The chat_log table: the web playground's conversation history, line by line. */
import { z } from 'zod';
import { optionalText, parseOptionalRow, parseRows, type StoreContext } from './rows.js';

const chatLogRow = z
  .object({
    seq: z.number(),
    platform: z.string(),
    channel_id: z.string(),
    message_id: z.string(),
    author: z.string(),
    from_bot: z.number(),
    text: z.string(),
    reply_to: optionalText,
    job_id: optionalText,
    image_id: optionalText,
    created_at: z.number(),
  })
  .transform((row) => ({
    seq: row.seq,
    platform: row.platform,
    channelId: row.channel_id,
    messageId: row.message_id,
    author: row.author,
    fromBot: row.from_bot === 1,
    text: row.text,
    replyTo: row.reply_to,
    jobId: row.job_id,
    imageId: row.image_id,
    createdAt: row.created_at,
  }));

/** One line of a playground conversation. */
export type ChatLogEntry = Readonly<z.output<typeof chatLogRow>>;

/** Conversation history: the lines of each playground conversation, oldest first. */
export class HistoryRepository {
  private readonly sql;

  constructor(private readonly context: StoreContext) {
    this.sql = prepare(context.db);
  }

  /** Appends a line to a conversation, or replaces the line with the same message id. */
  log(entry: Omit<ChatLogEntry, 'seq' | 'createdAt'>): ChatLogEntry {
    this.sql.upsert.run({
      platform: entry.platform,
      channel_id: entry.channelId,
      message_id: entry.messageId,
      author: entry.author,
      from_bot: entry.fromBot ? 1 : 0,
      text: entry.text,
      reply_to: entry.replyTo,
      job_id: entry.jobId,
      image_id: entry.imageId,
      created_at: this.context.now(),
    });
    return chatLogRow.parse(this.sql.get.get(entry.messageId));
  }

  /** The last `limit` lines of a conversation, oldest first. */
  of(platform: string, channelId: string, limit = 200): ChatLogEntry[] {
    return parseRows(chatLogRow, this.sql.ofChannel.all(platform, channelId, limit)).reverse();
  }

  /** One logged line. */
  entry(messageId: string): ChatLogEntry | undefined {
    return parseOptionalRow(chatLogRow, this.sql.get.get(messageId));
  }

  /** Removes a logged line (a deleted result). */
  delete(messageId: string): void {
    this.sql.delete.run(messageId);
  }
}

function prepare(db: StoreContext['db']) {
  return {
    upsert: db.prepare(
      `INSERT INTO chat_log (platform, channel_id, message_id, author, from_bot, text, reply_to, job_id, image_id, created_at)
       VALUES (@platform, @channel_id, @message_id, @author, @from_bot, @text, @reply_to, @job_id, @image_id, @created_at)
       ON CONFLICT (message_id) DO UPDATE SET text = excluded.text, job_id = excluded.job_id, image_id = excluded.image_id`,
    ),
    get: db.prepare('SELECT * FROM chat_log WHERE message_id = ?'),
    ofChannel: db.prepare(
      'SELECT * FROM chat_log WHERE platform = ? AND channel_id = ? ORDER BY seq DESC LIMIT ?',
    ),
    delete: db.prepare('DELETE FROM chat_log WHERE message_id = ?'),
  };
}
