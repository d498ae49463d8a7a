/**
 * The Slack adapter (@slack/bolt), inbound: slash commands, mentions, thread replies, reactions and
 * button clicks become internal events, and the command layer's replies go to Delivery with the place they
 * answer. What flowbot posts is said by the {@link SlackSurface} (surface.ts).
 */
import type { Server } from 'node:http';
import { App, LogLevel } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Bot } from '../../commands/bot.js';
import type { Outbox } from '../../commands/delivery.js';
import type { ChatContext, InboundEventInput, Reply } from '../../commands/types.js';
import { createLogger } from '../../src/log.js';
import { type SlackFile, sharedUpload, slackFileSource } from './files.js';
import { describeSlackError as describe, type SlackAnswer, SlackSurface } from './surface.js';

const log = createLogger('slack');

/** What `/flowbot <command>` and `@flowbot <command>` run. */
const FLOWBOT_COMMANDS = ['settings', 'info', 'queue', 'quota', 'cancel', 'help', 'region', 'imagine'];
const PLATFORM = 'slack';

/** Options of {@link SlackAdapter}. */
export interface SlackOptions {
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
  private readonly outbox: Outbox<SlackAnswer>;
  /** Where shared files may be fetched from, with the bot token. */
  private readonly files;
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
    const surface = new SlackSurface(() => this.app.client, {
      editIntervalMs: options.progressIntervalMs ?? 1000,
      previewUrl: options.previewUrl,
    });
    this.outbox = options.bot.delivery.attach(surface);
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
      const isEditOfImage = thread && this.options.bot.delivery.isOurs(PLATFORM, event.channel, thread);
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
      if (!this.options.bot.delivery.isOurs(PLATFORM, m.channel, m.thread_ts)) return; // not one of ours
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
      const thread = this.options.bot.delivery.threadOf(PLATFORM, event.item.channel, event.item.ts);
      if (!thread) return;
      const replies = await this.options.bot.handle({
        kind: 'reaction',
        emoji: event.reaction,
        target: { channelId: event.item.channel, messageId: event.item.ts },
        ctx: this.ctx(event.user, event.item.channel),
      });
      await this.deliver(replies, { channel: event.item.channel, threadTs: thread }, event.user);
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

  /** Shows replies through Delivery, in the channel (and thread) they answer. */
  private deliver(replies: Reply[], where: Where, userId: string, triggerId?: string): Promise<void> {
    const place = { userId, channelId: where.channel, threadId: where.threadTs };
    return this.outbox.deliver(replies, place, { triggerId });
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
