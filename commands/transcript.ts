/**
 * The playground's conversation. Discord and Slack keep their own messages; the playground's live in
 * flowbot's store, so that they survive reloads and restarts.
 */
import type { ChatLogEntry, Store } from '../src/store/store.js';

export type { ChatLogEntry };

/** A line to add to the transcript. */
export type NewTranscriptLine = Omit<ChatLogEntry, 'seq' | 'createdAt'>;

/** The playground's transcript: add, read, take back. */
export class Transcript {
  constructor(private readonly store: Store) {}

  /** Adds a line (the person's message, a status, a result). */
  add(line: NewTranscriptLine): ChatLogEntry {
    return this.store.logChat(line);
  }

  /** The lines of a channel, oldest first. */
  lines(platform: string, channelId: string): ChatLogEntry[] {
    return this.store.chatLog(platform, channelId);
  }

  /** One line by its message id. */
  line(messageId: string): ChatLogEntry | undefined {
    return this.store.chatLogEntry(messageId);
  }

  /** Removes a line and returns it, if it was there. */
  take(messageId: string): ChatLogEntry | undefined {
    const line = this.store.chatLogEntry(messageId);
    if (line) this.store.deleteChatLog(messageId);
    return line;
  }
}
