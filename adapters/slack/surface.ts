/**
 * Slack's side of the {@link ChatSurface} port. A job's status message becomes its result by an update
 * (text, buttons, context line); an update cannot carry a file, so the image is uploaded into the status
 * message's thread (files.uploadV2), and the `ts` of the message that shares it is recorded as well, so
 * reactions and thread replies find the image, also after a restart.
 */
import type { WebClient } from '@slack/web-api';
import type {
  ChatSurface,
  MessageRef,
  Place,
  PostedResult,
  ResultPost,
  StatusUpdate,
  SurfaceLimits,
} from '../../commands/surface.js';
import type { ModalSpec } from '../../commands/types.js';
import { createLogger } from '../../src/log.js';
import { modalView, resultBlocks } from './blocks.js';

const log = createLogger('slack');

/** What a Slack answer needs besides its place: the trigger that may open a form. */
export interface SlackAnswer {
  readonly triggerId?: string | undefined;
}

/** Options of {@link SlackSurface}. */
export interface SlackSurfaceOptions {
  readonly editIntervalMs: number;
  /** A public URL of a job's latest preview (with PUBLIC_URL set), for progress messages. */
  readonly previewUrl?: ((jobId: string) => string | undefined) | undefined;
}

interface Where {
  readonly channel: string;
  readonly threadTs?: string | undefined;
}

/** Slack as a chat surface. */
export class SlackSurface implements ChatSurface<SlackAnswer> {
  readonly platform = 'slack' as const;
  readonly limits: SurfaceLimits;

  constructor(
    private readonly client: () => WebClient,
    private readonly options: SlackSurfaceOptions,
  ) {
    this.limits = {
      uploadBytes: 1024 * 1024 * 1024,
      buttonsPerRow: 5,
      buttonRows: 20,
      editIntervalMs: options.editIntervalMs,
      privateResults: true,
      nativeSpoilers: false,
    };
  }

  async postStatus(place: Place, text: string): Promise<MessageRef | undefined> {
    const posted = await this.call('chat.postMessage', () =>
      this.client().chat.postMessage({
        channel: place.channelId,
        text: `<@${place.userId}> ${text}`,
        ...thread(place.threadId),
      }),
    );
    return posted?.ts
      ? { channelId: place.channelId, messageId: posted.ts, private: false, threadId: place.threadId }
      : undefined;
  }

  async editStatus(status: MessageRef, update: StatusUpdate): Promise<void> {
    // With PUBLIC_URL, Slack shows the preview from the playground server (the step defeats caching).
    const url = update.preview ? this.options.previewUrl?.(update.jobId) : undefined;
    const blocks = url
      ? [
          { type: 'section', text: { type: 'mrkdwn', text: update.text } },
          { type: 'image', image_url: `${url}&step=${update.step ?? 0}`, alt_text: 'the image forming' },
        ]
      : undefined;
    await this.call('chat.update', () =>
      this.client().chat.update({
        channel: status.channelId,
        ts: status.messageId,
        text: update.text,
        ...(blocks ? { blocks } : {}),
      }),
    );
  }

  async postResult(post: ResultPost, place: Place): Promise<PostedResult> {
    const { view } = post;
    const asked: Where = { channel: place.channelId, threadTs: place.threadId };
    const where = post.privately ? ((await this.directMessage(view.userId)) ?? asked) : asked;
    const blocks = resultBlocks(view, post.rows);
    // One message: the status (or a new message) says the result with its buttons; an update cannot
    // carry a file, so the image goes into that message's thread.
    let message = post.into;
    if (message) {
      const { channelId, messageId } = message;
      await this.call('chat.update', () =>
        this.client().chat.update({ channel: channelId, ts: messageId, text: view.text, blocks }),
      );
    } else {
      const posted = await this.call('chat.postMessage', () =>
        this.client().chat.postMessage({
          channel: where.channel,
          text: view.text,
          blocks,
          ...thread(where.threadTs),
        }),
      );
      if (!posted?.ts) return { messages: [], replacedStatus: false };
      message = {
        channelId: where.channel,
        messageId: posted.ts,
        private: post.privately,
        threadId: where.threadTs,
      };
    }
    const threadTs = message.threadId ?? message.messageId;
    const file = await this.upload(post, { channel: message.channelId, threadTs });
    const messages: MessageRef[] = [message];
    if (file)
      messages.push({
        channelId: message.channelId,
        messageId: file,
        private: message.private,
        threadId: threadTs,
      });
    return { messages, replacedStatus: post.into !== undefined };
  }

  async say(place: Place, text: string): Promise<void> {
    await this.call('chat.postMessage', () =>
      this.client().chat.postMessage({ channel: place.channelId, text, ...thread(place.threadId) }),
    );
  }

  async sayPrivately(place: Place, text: string, _answer?: SlackAnswer, direct = false): Promise<void> {
    if (direct) {
      const dm = await this.directMessage(place.userId);
      if (dm)
        await this.call('chat.postMessage', () =>
          this.client().chat.postMessage({ channel: dm.channel, text }),
        );
      return;
    }
    await this.call('chat.postEphemeral', () =>
      this.client().chat.postEphemeral({
        channel: place.channelId,
        user: place.userId,
        text,
        ...thread(place.threadId),
      }),
    );
  }

  async openForm(place: Place, form: ModalSpec, answer?: SlackAnswer): Promise<void> {
    const triggerId = answer?.triggerId;
    if (!triggerId) return;
    const where: Where = { channel: place.channelId, threadTs: place.threadId };
    await this.call('views.open', () =>
      this.client().views.open({ trigger_id: triggerId, view: modalView(form, JSON.stringify(where)) }),
    );
  }

  async remove(message: MessageRef): Promise<void> {
    await this.call('chat.delete', () =>
      this.client().chat.delete({ channel: message.channelId, ts: message.messageId }),
    );
  }

  /** The DM channel with a user, or undefined when Slack won't open one. */
  private async directMessage(userId: string): Promise<Where | undefined> {
    const opened = await this.call('conversations.open', () =>
      this.client().conversations.open({ users: userId }),
    );
    return opened?.channel?.id ? { channel: opened.channel.id } : undefined;
  }

  /** Uploads the image; resolves with the ts of the message that shares it. */
  private async upload(post: ResultPost, where: Where): Promise<string | undefined> {
    const { view } = post;
    const file = {
      channel_id: where.channel,
      file: post.png,
      filename: `flowbot-${view.imageId}${post.blurred ? '-blurred' : ''}.png`,
      title: view.context,
    };
    const threadTs = where.threadTs;
    const upload = await this.call('files.uploadV2', () =>
      threadTs
        ? this.client().files.uploadV2({ ...file, thread_ts: threadTs })
        : this.client().files.uploadV2(file),
    );
    const fileId = fileIdOf(upload);
    return fileId ? this.shareTs(fileId, where.channel) : undefined;
  }

  /** The ts of the message that shares a file in a channel; Slack fills it in shortly after the upload. */
  private async shareTs(fileId: string, channel: string): Promise<string | undefined> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const info = await this.call('files.info', () => this.client().files.info({ file: fileId }));
      const shares = info?.file?.shares;
      const ts = shares?.public?.[channel]?.[0]?.ts ?? shares?.private?.[channel]?.[0]?.ts;
      if (ts) return ts;
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
    }
    log.warn('no share ts for an uploaded file; reactions on it will not find the image', { file: fileId });
    return undefined;
  }

  /** Runs a Web API call; errors (429s are retried by the client) are logged with the method and never thrown. */
  private async call<T>(method: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (error) {
      log.error('Slack Web API call failed', { method, error: describeSlackError(error) });
      return undefined;
    }
  }
}

function thread(threadTs: string | undefined): { thread_ts?: string } {
  return threadTs ? { thread_ts: threadTs } : {};
}

/** The id of the file an upload made (files.uploadV2 answers with the completed uploads). */
function fileIdOf(upload: unknown): string | undefined {
  if (typeof upload !== 'object' || upload === null || !('files' in upload)) return undefined;
  const completed = upload.files;
  if (!Array.isArray(completed)) return undefined;
  const first: unknown = completed[0]?.files?.[0]?.id;
  return typeof first === 'string' ? first : undefined;
}

/** Slack's error code, or the error's message. */
export function describeSlackError(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'data' in error) {
    const data = error.data;
    if (typeof data === 'object' && data !== null && 'error' in data && typeof data.error === 'string')
      return data.error;
  }
  return error instanceof Error ? error.message : String(error);
}
