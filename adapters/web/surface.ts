/**
 * The playground's side of the {@link ChatSurface} port. Its conversation is flowbot's own transcript,
 * streamed to open pages over server-sent events. A job leaves one message: its status card ("s-<job>")
 * while it runs, then its result ("r-<job>") or its last word ("e-<job>") in its place. Answers to a
 * request (texts, forms) also go back in the request's own response, collected in a {@link WebAnswer}.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Bot } from '../../commands/bot.js';
import type {
  ChatSurface,
  MessageRef,
  Place,
  PostedResult,
  ResultPost,
  StatusUpdate,
  SurfaceLimits,
} from '../../commands/surface.js';
import type { ChatLogEntry } from '../../commands/transcript.js';
import type { ModalSpec, ResultView } from '../../commands/types.js';

export const PLATFORM = 'web';
export const CHANNEL = 'playground';

/** What one request's response carries back to the page. */
export interface WebAnswer {
  readonly answers: unknown[];
  /**
   * Set once the request's response is sent: what a job says later (a held-back notice) can no longer
   * ride in it and becomes a line of the conversation instead.
   */
  sent?: boolean;
}

/** An entry as the page shows it. */
export interface EntryJson {
  readonly messageId: string;
  readonly author: string;
  readonly fromBot: boolean;
  readonly text: string;
  readonly replyTo: string | null;
  readonly jobId: string | null;
  readonly image: (ResultView & { url: string }) | null;
}

/** The playground as a chat surface, and the feed of its open pages. */
export class WebSurface implements ChatSurface<WebAnswer> {
  readonly platform = PLATFORM;
  readonly limits: SurfaceLimits = {
    uploadBytes: 64 * 1024 * 1024,
    buttonsPerRow: 5,
    buttonRows: 10,
    editIntervalMs: 250,
    privateResults: false,
    nativeSpoilers: false,
  };
  private readonly pages = new Set<ServerResponse>();
  /** Whether each result posted since start shows its image blurred (moderation's `spoiler`). */
  private readonly blurred = new Map<string, boolean>();

  constructor(private readonly bot: Bot) {}

  /** Streams the conversation's changes to an open page until it goes. */
  follow(page: ServerResponse): () => void {
    this.pages.add(page);
    return () => this.pages.delete(page);
  }

  /** Ends every stream (the server is closing). */
  closeAll(): void {
    for (const page of this.pages) page.end();
  }

  /** Sends an event to every open page. */
  broadcast(event: Record<string, unknown>): void {
    const data = `data: ${JSON.stringify(event)}\n\n`;
    for (const page of this.pages) page.write(data);
  }

  /** The whole conversation, as the page shows it. */
  history(): EntryJson[] {
    return this.bot.delivery.transcript.lines(PLATFORM, CHANNEL).map((line) => this.entryJson(line));
  }

  /** Adds a line to the conversation and shows it on open pages. */
  add(
    line: Omit<ChatLogEntry, 'seq' | 'createdAt' | 'platform' | 'channelId'>,
    replaces?: string,
  ): EntryJson {
    const logged = this.bot.delivery.transcript.add({ platform: PLATFORM, channelId: CHANNEL, ...line });
    const entry = this.entryJson(logged);
    this.broadcast({ type: 'entry', entry, ...(replaces ? { replaces } : {}) });
    return entry;
  }

  async postStatus(place: Place, text: string, jobId: string, answer?: WebAnswer): Promise<MessageRef> {
    const entry = this.add(bot(`s-${jobId}`, text, place.replyTo ?? null, jobId, null));
    answer?.answers.push({ type: 'entry', entry });
    return { channelId: CHANNEL, messageId: entry.messageId, private: false };
  }

  async editStatus(status: MessageRef, update: StatusUpdate): Promise<void> {
    const { jobId } = update;
    if (update.final) {
      const taken = this.bot.delivery.transcript.take(status.messageId);
      this.add(bot(`e-${jobId}`, update.text, taken?.replyTo ?? null, jobId, null), status.messageId);
      this.broadcast({ type: 'done', jobId });
      return;
    }
    if (update.notice !== undefined) {
      this.broadcast({ type: 'notice', jobId, text: update.notice });
      return;
    }
    const preview = update.preview
      ? { preview: `data:image/png;base64,${Buffer.from(update.preview).toString('base64')}` }
      : {};
    this.broadcast({ type: 'progress', jobId, step: update.step ?? 0, total: update.total ?? 1, ...preview });
  }

  async postResult(post: ResultPost, place: Place, answer?: WebAnswer): Promise<PostedResult> {
    const { view, into } = post;
    const taken = into ? this.bot.delivery.transcript.take(into.messageId) : undefined;
    const messageId = into && view.jobId ? `r-${view.jobId}` : `i-${randomId()}`;
    this.blurred.set(messageId, post.blurred);
    const replyTo = taken?.replyTo ?? place.replyTo ?? null;
    const entry = this.add(bot(messageId, view.text, replyTo, view.jobId, view.imageId), into?.messageId);
    if (into && view.jobId) this.broadcast({ type: 'done', jobId: view.jobId });
    answer?.answers.push({ type: 'entry', entry });
    return {
      messages: [{ channelId: CHANNEL, messageId, private: false }],
      replacedStatus: into !== undefined,
    };
  }

  async say(_place: Place, text: string, answer?: WebAnswer): Promise<void> {
    this.tell(text, 'text', answer);
  }

  async sayPrivately(_place: Place, text: string, answer?: WebAnswer, direct = false): Promise<void> {
    this.tell(text, direct ? 'note' : 'text', answer);
  }

  async openForm(_place: Place, form: ModalSpec, answer?: WebAnswer): Promise<void> {
    answer?.answers.push({ type: 'modal', modal: form });
  }

  async remove(message: MessageRef, answer?: WebAnswer): Promise<void> {
    this.bot.delivery.transcript.take(message.messageId);
    this.broadcast({ type: 'delete', messageId: message.messageId });
    answer?.answers.push({ type: 'deleted' });
  }

  /** A text: in the request's response, or (said later, by a job) as a line of the conversation. */
  private tell(text: string, type: 'text' | 'note', answer: WebAnswer | undefined): void {
    if (answer && !answer.sent) answer.answers.push({ type, text });
    else this.add(bot(`n-${randomId()}`, text, null, null, null));
  }

  private entryJson(entry: ChatLogEntry): EntryJson {
    const view = entry.imageId ? this.bot.shownView(entry.imageId, entry.text) : undefined;
    // An image moderation marked `spoiler` shows blurred until "Show" is pressed.
    const hidden = this.blurred.get(entry.messageId) ?? view?.moderation?.action === 'spoiler';
    const blurred = hidden ? '?blurred=1' : '';
    return {
      messageId: entry.messageId,
      author: entry.author,
      fromBot: entry.fromBot,
      text: entry.text,
      replyTo: entry.replyTo,
      jobId: entry.jobId,
      image: view ? { ...view, file: '', url: `/images/${view.imageId}.png${blurred}` } : null,
    };
  }
}

/** A line of flowbot's. */
function bot(
  messageId: string,
  text: string,
  replyTo: string | null,
  jobId: string | null,
  imageId: string | null,
): Omit<ChatLogEntry, 'seq' | 'createdAt' | 'platform' | 'channelId'> {
  return { messageId, author: 'flowbot', fromBot: true, text, replyTo, jobId, imageId };
}

/** A random message id suffix. */
export function randomId(): string {
  return randomBytes(6).toString('hex');
}
