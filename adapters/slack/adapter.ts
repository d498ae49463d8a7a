/**
 * The Slack adapter (@slack/bolt): translates slash commands, mentions, thread replies, reactions and
 * button clicks into internal events, and posts queue progress and results back. Results are uploaded
 * with the external upload flow (files.uploadV2) and the `ts` of the message that carries each image is
 * recorded, so reactions and thread replies find their image, also after a restart.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { App, LogLevel } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Bot } from '../../commands/bot.js';
import { progressText } from '../../commands/progress.js';
import type { ChatContext, InboundEventInput, Reply, ResultView } from '../../commands/types.js';
import type { Core } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import { watchJobs } from '../jobs.js';
import { modalView, resultBlocks } from './blocks.js';
import { type SlackFile, sharedUpload, slackFileSource } from './files.js';

const log = createLogger('slack');

/** What `/flowbot <command>` and `@flowbot <command>` run. */
const FLOWBOT_COMMANDS = ['settings', 'info', 'queue', 'quota', 'cancel', 'help', 'region', 'imagine'];
const PLATFORM = 'slack';

/** Options of {@link SlackAdapter}. */
export interface SlackOptions {
  readonly core: Core;
  readonly bot: Bot;
  readonly botToken: string;
  readonly signingSecret?: string | undefined;
  /** Socket Mode when set. */
  readonly appToken?: string | undefined;
  /** Address the HTTP receiver binds to: HOST, as for the playground (Bolt alone binds every interface). */
  readonly host: string;
  readonly port: number;
  /** Web API base URL override (proxies, tests). */
  readonly apiUrl?: string | undefined;
  /** Minimum time between progress edits of one status message. */
  readonly progressIntervalMs?: number;
  /** flowbot admins besides the workspace's admins and owners (SLACK_ADMIN_USERS). */
  readonly adminUsers?: readonly string[];
  /** A public URL of a job's latest preview (with PUBLIC_URL set), for progress messages. */
  readonly previewUrl?: (jobId: string) => string | undefined;
  /** Loopback `host:port` origins whose files may be fetched besides files.slack.com: tests only. */
  readonly fileTestOrigins?: readonly string[];
}

interface Where {
  readonly channel: string;
  readonly threadTs?: string | undefined;
}

/** Slack, through Bolt. */
export class SlackAdapter {
  readonly app: App;
  private readonly options: SlackOptions;
  private botUserId: string | undefined;
  /** Where shared files may be fetched from, with the bot token. */
  private readonly files;
  private readonly lastEdit = new Map<string, number>();
  private server: Server | undefined;
  private readonly seenEvents = new Set<string>();
  private readonly admins = new Map<string, { admin: boolean; until: number }>();

  constructor(options: SlackOptions) {
    this.options = options;
    this.files = slackFileSource(options.botToken, options.fileTestOrigins);
    const clientOptions = options.apiUrl ? { slackApiUrl: `${options.apiUrl}/` } : {};
    this.app = new App({
      token: options.botToken,
      ...(options.appToken
        ? { appToken: options.appToken, socketMode: true }
        : { signingSecret: options.signingSecret ?? '' }),
      clientOptions,
      logLevel: LogLevel.ERROR,
    });
    this.routes();
    this.subscribe();
  }

  /**
   * Starts the receiver (the HTTP endpoint, or the Socket Mode connection), then learns the bot's own
   * user id; the receiver does not wait for the Web API. Resolves with the HTTP port when there is one.
   */
  async start(): Promise<number | undefined> {
    const started = (await (this.options.appToken
      ? this.app.start()
      : this.app.start({ host: this.options.host, port: this.options.port }))) as unknown;
    const auth = await this.app.client.auth.test().catch((error: unknown) => {
      log.error('auth.test failed; check SLACK_BOT_TOKEN', { error: describe(error) });
      return undefined;
    });
    this.botUserId = (auth?.user_id as string | undefined) ?? undefined;
    if (started && typeof (started as Server).address === 'function') {
      this.server = started as Server;
      const address = this.server.address();
      return typeof address === 'object' && address ? address.port : this.options.port;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    await this.app.stop().catch(() => undefined);
  }

  private get client(): WebClient {
    return this.app.client;
  }

  // ---- inbound ------------------------------------------------------------------------------------------

  private ctx(userId: string, channel: string, threadTs?: string, isAdmin = false): ChatContext {
    return {
      platform: PLATFORM,
      userId,
      channelId: channel,
      isAdmin,
      ...(threadTs ? { threadId: threadTs } : {}),
    };
  }

  /** A shared file (with words, perhaps): it becomes an image of the conversation, answered in its thread. */
  private async onUpload(
    text: string,
    upload: NonNullable<ReturnType<typeof sharedUpload>>,
    userId: string,
    channel: string,
    ts: string,
    thread: string | undefined,
  ): Promise<void> {
    const replies = await this.options.bot.handle({
      kind: 'upload',
      text,
      ctx: { ...this.ctx(userId, channel, thread), messageId: ts },
      attachment: upload,
    });
    await this.deliver(replies, { channel, threadTs: thread ?? ts }, userId);
  }

  /** Workspace admins and owners (users.info, cached for ten minutes) and SLACK_ADMIN_USERS are admins. */
  private async isAdmin(userId: string): Promise<boolean> {
    if (this.options.adminUsers?.includes(userId)) return true;
    const cached = this.admins.get(userId);
    if (cached && cached.until > Date.now()) return cached.admin;
    const info = (await this.call('users.info', () => this.client.users.info({ user: userId }))) as
      | { user?: { is_admin?: boolean; is_owner?: boolean; is_primary_owner?: boolean } }
      | undefined;
    const admin = Boolean(info?.user?.is_admin || info?.user?.is_owner || info?.user?.is_primary_owner);
    if (info) this.admins.set(userId, { admin, until: Date.now() + 10 * 60_000 });
    return admin;
  }

  /** Runs a flowbot command (`/flowbot <command>`, `@flowbot <command>`) as its user. */
  private async runCommand(name: string, text: string, userId: string, channel: string, threadTs?: string) {
    const ctx = this.ctx(userId, channel, threadTs, await this.isAdmin(userId));
    return this.options.bot.handle({ kind: 'command', name, text, ctx });
  }

  /** The DM channel with a user, or undefined when Slack won't open one. */
  private async directMessage(userId: string): Promise<Where | undefined> {
    const opened = (await this.call('conversations.open', () =>
      this.client.conversations.open({ users: userId }),
    )) as { channel?: { id?: string } } | undefined;
    return opened?.channel?.id ? { channel: opened.channel.id } : undefined;
  }

  /** True when this event id was handled already (an Events API redelivery). */
  private seenBefore(eventId: string): boolean {
    if (this.seenEvents.has(eventId)) return true;
    this.seenEvents.add(eventId);
    // Insertion order makes the oldest first: keep the last few thousand.
    if (this.seenEvents.size > 5000) this.seenEvents.delete(this.seenEvents.values().next().value!);
    return false;
  }

  private routes(): void {
    // Slack redelivers events it thinks were missed and may replay an event_id: an event_id handled
    // once is acknowledged and dropped, so one request never makes two jobs. A retry (X-Slack-Retry-Num)
    // of an event never seen is handled: that is how events sent while flowbot was down arrive.
    this.app.use(async ({ context, body, next }) => {
      const eventId = (body as { event_id?: unknown }).event_id;
      if (typeof eventId === 'string' && this.seenBefore(eventId)) {
        log.info('ignored a redelivered Slack event', { eventId, retry: context.retryNum ?? 0 });
        return;
      }
      await next();
    });
    this.app.command('/imagine', async ({ command, ack }) => {
      // Admin status matters here: models an admin restricted to admins (settings admin model … admins).
      const isAdmin = await this.isAdmin(command.user_id);
      const replies = await this.options.bot.handle({
        kind: 'command',
        name: 'imagine',
        text: command.text,
        ctx: this.ctx(command.user_id, command.channel_id, undefined, isAdmin),
      });
      const first = replies[0];
      if (first?.type === 'text' && first.ephemeral) {
        await ack({ response_type: 'ephemeral', text: first.text });
        return;
      }
      await ack();
      await this.deliver(replies, { channel: command.channel_id }, command.user_id);
    });

    this.app.command('/flowbot', async ({ command, ack }) => {
      const [first = 'help', ...rest] = command.text.trim().split(/\s+/);
      const name = first.toLowerCase();
      if (!FLOWBOT_COMMANDS.includes(name)) {
        await ack({
          response_type: 'ephemeral',
          text: `Unknown command "${first}". Try /flowbot ${FLOWBOT_COMMANDS.join(' | ')}.`,
        });
        return;
      }
      const replies = await this.runCommand(name, rest.join(' '), command.user_id, command.channel_id);
      if (replies.every((r) => r.type === 'text' && r.ephemeral)) {
        await ack({
          response_type: 'ephemeral',
          text: replies.map((r) => (r.type === 'text' ? r.text : '')).join('\n'),
        });
        return;
      }
      await ack();
      await this.deliver(replies, { channel: command.channel_id }, command.user_id);
    });

    this.app.event('app_mention', async ({ event }) => {
      if (!event.user || event.bot_id) return;
      const text = event.text.replace(/<@[A-Z0-9]+>/g, '').trim();
      const thread = event.thread_ts;
      const upload = sharedUpload((event as { files?: SlackFile[] }).files, this.files);
      if (upload) return this.onUpload(text, upload, event.user, event.channel, event.ts, thread);
      const [first = '', ...rest] = text.split(/\s+/);
      if (FLOWBOT_COMMANDS.includes(first.toLowerCase()) && first.toLowerCase() !== 'imagine') {
        const replies = await this.runCommand(
          first.toLowerCase(),
          rest.join(' '),
          event.user,
          event.channel,
          thread,
        );
        await this.deliver(replies, { channel: event.channel, threadTs: thread ?? event.ts }, event.user);
        return;
      }
      const isEditOfImage =
        thread && this.options.bot.conversations.findChatMessage(PLATFORM, event.channel, thread);
      const inbound: InboundEventInput = isEditOfImage
        ? {
            kind: 'reply',
            text,
            target: { channelId: event.channel, messageId: thread },
            ctx: this.ctx(event.user, event.channel, thread),
          }
        : { kind: 'command', name: 'imagine', text, ctx: this.ctx(event.user, event.channel, thread) };
      await this.deliver(
        await this.options.bot.handle(inbound),
        { channel: event.channel, threadTs: thread ?? event.ts },
        event.user,
      );
    });

    this.app.message(async ({ message }) => {
      const m = message as {
        subtype?: string;
        bot_id?: string;
        user?: string;
        text?: string;
        thread_ts?: string;
        ts: string;
        channel: string;
        files?: SlackFile[];
      };
      if (
        (m.subtype && m.subtype !== 'file_share') ||
        m.bot_id ||
        !m.user ||
        m.user === this.botUserId ||
        !m.thread_ts ||
        m.thread_ts === m.ts
      )
        return;
      if (this.botUserId && m.text?.includes(`<@${this.botUserId}>`)) return; // handled as app_mention
      if (!this.options.bot.conversations.findChatMessage(PLATFORM, m.channel, m.thread_ts)) return; // not one of ours
      const upload = sharedUpload(m.files, this.files);
      if (upload) return this.onUpload(m.text ?? '', upload, m.user, m.channel, m.ts, m.thread_ts);
      const replies = await this.options.bot.handle({
        kind: 'reply',
        text: m.text ?? '',
        target: { channelId: m.channel, messageId: m.thread_ts },
        ctx: this.ctx(m.user, m.channel, m.thread_ts),
      });
      await this.deliver(replies, { channel: m.channel, threadTs: m.thread_ts }, m.user);
    });

    this.app.event('reaction_added', async ({ event }) => {
      if (event.item.type !== 'message' || event.user === this.botUserId) return;
      const record = this.options.bot.conversations.findChatMessage(
        PLATFORM,
        event.item.channel,
        event.item.ts,
      );
      if (!record) return;
      const replies = await this.options.bot.handle({
        kind: 'reaction',
        emoji: event.reaction,
        target: { channelId: event.item.channel, messageId: event.item.ts },
        ctx: this.ctx(event.user, event.item.channel),
      });
      await this.deliver(
        replies,
        { channel: event.item.channel, threadTs: record.threadId ?? event.item.ts },
        event.user,
      );
    });

    this.app.action(/^fb:/, async ({ ack, body, action }) => {
      await ack();
      const b = body as {
        user: { id: string };
        channel?: { id: string };
        message?: { ts: string; thread_ts?: string };
        trigger_id?: string;
      };
      const customId = (action as { action_id: string }).action_id;
      const channel = b.channel?.id ?? '';
      const threadTs = b.message?.thread_ts ?? b.message?.ts;
      const replies = await this.options.bot.handle({
        kind: 'action',
        customId,
        ctx: this.ctx(b.user.id, channel, threadTs),
      });
      await this.deliver(replies, { channel, threadTs }, b.user.id, b.trigger_id);
    });

    this.app.view(/^fb:/, async ({ ack, view, body }) => {
      await ack();
      const where = JSON.parse(view.private_metadata || '{}') as Where;
      const fields: Record<string, string> = {};
      for (const [blockId, values] of Object.entries(view.state.values)) {
        const value = Object.values(values)[0] as { value?: string | null } | undefined;
        fields[blockId] = value?.value ?? '';
      }
      const replies = await this.options.bot.handle({
        kind: 'action',
        customId: view.callback_id,
        fields,
        ctx: this.ctx(body.user.id, where.channel, where.threadTs),
      });
      await this.deliver(replies, where, body.user.id);
    });

    this.app.error(async (error) => {
      log.error('unhandled Slack error', { error: describe(error) });
    });
  }

  /** Shows replies: status messages for jobs, ephemeral text, DMs, modals, deletions. */
  private async deliver(replies: Reply[], where: Where, userId: string, triggerId?: string): Promise<void> {
    for (const reply of replies) {
      switch (reply.type) {
        case 'text':
          await this.say(reply.text, reply.ephemeral, where, userId);
          break;
        case 'queued': {
          const posted = await this.call('chat.postMessage', () =>
            this.client.chat.postMessage({
              channel: where.channel,
              text: `<@${userId}> ${reply.text}`,
              ...(where.threadTs ? { thread_ts: where.threadTs } : {}),
            }),
          );
          if (posted?.ts) {
            this.options.bot.conversations.recordChatMessage({
              platform: PLATFORM,
              channelId: where.channel,
              messageId: posted.ts,
              jobId: reply.jobId,
              threadId: where.threadTs ?? null,
            });
          }
          break;
        }
        case 'image':
          await this.postResult(reply.view, where);
          break;
        case 'dm': {
          const opened = await this.call('conversations.open', () =>
            this.client.conversations.open({ users: userId }),
          );
          const channel = opened?.channel?.id;
          if (channel)
            await this.call('chat.postMessage', () =>
              this.client.chat.postMessage({ channel, text: reply.text }),
            );
          break;
        }
        case 'modal':
          if (triggerId) {
            await this.call('views.open', () =>
              this.client.views.open({
                trigger_id: triggerId,
                view: modalView(reply.modal, JSON.stringify(where)) as never,
              }),
            );
          }
          break;
        case 'delete':
          await this.call('chat.delete', () =>
            this.client.chat.delete({ channel: reply.channelId, ts: reply.messageId }),
          );
          break;
      }
    }
  }

  /** A text, as Reply.ephemeral decides: seen by the asker alone, or posted for the channel. */
  private async say(text: string, ephemeral: boolean, where: Where, userId: string): Promise<void> {
    const thread = where.threadTs ? { thread_ts: where.threadTs } : {};
    if (ephemeral)
      await this.call('chat.postEphemeral', () =>
        this.client.chat.postEphemeral({ channel: where.channel, user: userId, text, ...thread }),
      );
    else
      await this.call('chat.postMessage', () =>
        this.client.chat.postMessage({ channel: where.channel, text, ...thread }),
      );
  }

  // ---- outbound -----------------------------------------------------------------------------------------

  private subscribe(): void {
    watchJobs(this.options.core.queue, PLATFORM, {
      progress: (job, progress) => {
        const now = Date.now();
        if (now - (this.lastEdit.get(job.id) ?? 0) < (this.options.progressIntervalMs ?? 1000)) return;
        this.lastEdit.set(job.id, now);
        const status = this.status(job.id);
        if (!status) return;
        const text = progressText(job, progress.step, progress.total);
        // With PUBLIC_URL, Slack shows the preview from the playground server (the step defeats caching).
        const url = progress.preview ? this.options.previewUrl?.(job.id) : undefined;
        const blocks = url
          ? [
              { type: 'section', text: { type: 'mrkdwn', text } },
              { type: 'image', image_url: `${url}&step=${progress.step}`, alt_text: 'the image forming' },
            ]
          : undefined;
        void this.call('chat.update', () =>
          this.client.chat.update({
            channel: status.channelId,
            ts: status.messageId,
            text,
            ...(blocks ? { blocks: blocks as never } : {}),
          }),
        );
      },
      notice: (job, text) => {
        const status = this.status(job.id);
        if (!status) return;
        void this.call('chat.update', () =>
          this.client.chat.update({ channel: status.channelId, ts: status.messageId, text: `⏳ ${text}` }),
        );
      },
      succeeded: (job) => {
        this.lastEdit.delete(job.id);
        const view = this.options.bot.resultView(job.id);
        const status = this.status(job.id);
        if (!view || !status) return;
        // Posting runs after the job settled; a failure (Slack down, shutting down) is logged, never unhandled.
        void this.postResult(view, {
          channel: status.channelId,
          threadTs: status.threadId ?? undefined,
        })
          .then(() =>
            this.call('chat.update', () =>
              this.client.chat.update({
                channel: status.channelId,
                ts: status.messageId,
                text: `✅ ${view.text}`,
              }),
            ),
          )
          .catch((error: unknown) =>
            log.error('posting a result failed', { job: job.id, error: describe(error) }),
          );
      },
      ended: (job, text) => {
        this.lastEdit.delete(job.id);
        const status = this.status(job.id);
        if (status)
          void this.call('chat.update', () =>
            this.client.chat.update({ channel: status.channelId, ts: status.messageId, text }),
          );
      },
    });
  }

  private status(jobId: string) {
    return this.options.bot.conversations
      .chatMessagesOfJob(jobId)
      .find((m) => m.platform === PLATFORM && !m.imageId);
  }

  /**
   * Uploads an image into the channel (or thread), finds the ts of the message that carries it, and
   * posts the buttons and context line. Both messages are recorded against the image.
   */
  private async postResult(view: ResultView, asked: Where): Promise<void> {
    const { jobId, text } = view;
    // `settings private on`: the result goes to its owner's DM with the bot, not to the channel.
    const where = view.private ? ((await this.directMessage(view.userId)) ?? asked) : asked;
    const upload = (await this.call('files.uploadV2', () =>
      this.client.files.uploadV2({
        channel_id: where.channel,
        file: readFileSync(view.file),
        filename: `flowbot-${view.imageId}.png`,
        title: view.context,
        initial_comment: text,
        ...(where.threadTs ? { thread_ts: where.threadTs } : {}),
      } as Parameters<WebClient['files']['uploadV2']>[0]),
    )) as { files?: { files?: { id?: string }[] }[] } | undefined;
    const fileId = upload?.files?.[0]?.files?.[0]?.id;
    const ts = fileId ? await this.shareTs(fileId, where.channel) : undefined;
    const store = this.options.bot.conversations;
    if (ts)
      store.recordChatMessage({
        platform: PLATFORM,
        channelId: where.channel,
        messageId: ts,
        imageId: view.imageId,
        jobId,
        threadId: where.threadTs ?? null,
      });
    const buttons = await this.call('chat.postMessage', () =>
      this.client.chat.postMessage({
        channel: where.channel,
        text,
        blocks: resultBlocks(view) as never,
        ...(where.threadTs ? { thread_ts: where.threadTs } : ts ? { thread_ts: ts } : {}),
      }),
    );
    if (buttons?.ts)
      store.recordChatMessage({
        platform: PLATFORM,
        channelId: where.channel,
        messageId: buttons.ts,
        imageId: view.imageId,
        jobId,
        threadId: where.threadTs ?? ts ?? null,
      });
  }

  /** The ts of the message that shares a file in a channel; Slack fills it in shortly after the upload. */
  private async shareTs(fileId: string, channel: string): Promise<string | undefined> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const info = (await this.call('files.info', () => this.client.files.info({ file: fileId }))) as
        | {
            file?: {
              shares?: {
                public?: Record<string, { ts: string }[]>;
                private?: Record<string, { ts: string }[]>;
              };
            };
          }
        | undefined;
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
      log.error('Slack Web API call failed', { method, error: describe(error) });
      return undefined;
    }
  }
}

function describe(error: unknown): string {
  const data = (error as { data?: { error?: string }; code?: string }).data;
  return data?.error ?? (error as Error).message ?? String(error);
}
