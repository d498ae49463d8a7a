/**
 * What chat adapters may know of the store, and nothing more: which chat messages show which images
 * and jobs, a thread's latest image, the playground's chat log, and the image facts views need.
 * Adapters only translate; everything else they ask the command layer for.
 */
import type { ChatLogEntry, ChatMessageRecord, ImageRecord, JobRecord, Store } from '../src/store/store.js';

export type { ChatLogEntry, ChatMessageRecord, ImageRecord, JobRecord };

type LogInput = Parameters<Store['logChat']>[0];
type MessageInput = Parameters<Store['recordChatMessage']>[0];

/** The conversation records behind the chat adapters. */
export class Conversations {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  /** The record of a message flowbot posted (or a status it tracks), if it is one of ours. */
  findChatMessage(platform: string, channelId: string, messageId: string): ChatMessageRecord | undefined {
    return this.store.findChatMessage(platform, channelId, messageId);
  }

  /** Remembers that a posted message shows an image or a job. */
  recordChatMessage(input: MessageInput): void {
    this.store.recordChatMessage(input);
  }

  /** The latest image message of a thread. */
  latestImageInThread(platform: string, channelId: string, threadId: string): ChatMessageRecord | undefined {
    return this.store.latestImageInThread(platform, channelId, threadId);
  }

  /** The latest image message of a whole channel (the playground's one conversation). */
  latestImageInChannel(platform: string, channelId: string): ChatMessageRecord | undefined {
    return this.store.latestImageInThread(platform, channelId, channelId);
  }

  /** The messages that show a job (its status message among them). */
  chatMessagesOfJob(jobId: string): ChatMessageRecord[] {
    return this.store.chatMessagesOfJob(jobId);
  }

  /** The playground's log: add, read, remove. */
  logChat(input: LogInput): ChatLogEntry {
    return this.store.logChat(input);
  }

  chatLog(platform: string, channelId: string): ChatLogEntry[] {
    return this.store.chatLog(platform, channelId);
  }

  chatLogEntry(messageId: string): ChatLogEntry | undefined {
    return this.store.chatLogEntry(messageId);
  }

  deleteChatLog(messageId: string): void {
    this.store.deleteChatLog(messageId);
  }

  /** An image's record, for views. */
  getImage(id: string): ImageRecord | undefined {
    return this.store.getImage(id);
  }

  /** An image and its ancestors, newest first. */
  lineage(id: string): ImageRecord[] {
    return this.store.lineage(id);
  }
}
