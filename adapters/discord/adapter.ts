/**
 * The Discord adapter (discord.js v14): slash commands, buttons and modals, replies to results and
 * reactions become internal events; queue progress edits the interaction reply, which only the asker
 * sees (at most every 1.5 s); results are posted as regular channel messages that mention the requester, so people can reply and
 * react to them and the 15-minute interaction-token limit does not matter. Every button id carries the
 * image and the action, so buttons keep working after a restart.
 */
import { readFileSync } from 'node:fs';
import {
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  Client,
  Events,
  GatewayIntentBits,
  type Interaction,
  type Message,
  MessageFlags,
  type MessageReaction,
  type ModalSubmitInteraction,
  type PartialMessageReaction,
  Partials,
  type PartialUser,
  REST,
  type SendableChannels,
  SlashCommandBuilder,
  type User,
} from 'discord.js';
import type { Bot } from '../../commands/bot.js';
import { progressText } from '../../commands/progress.js';
import type { ChatContext, InboundEventInput, Reply, ResultView } from '../../commands/types.js';
import type { Core } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import { watchJobs } from '../jobs.js';
import { type BroughtImage, broughtImage, discordAttachmentSource, uploadOf } from './attachments.js';
import { rolesOf } from './members.js';
import { answerText } from './private.js';
import {
  componentRows,
  DEFAULT_ATTACHMENT_LIMIT,
  fitAttachment,
  mentionOnly,
  modal,
  NO_MENTIONS,
} from './render.js';

const log = createLogger('discord');
const PLATFORM = 'discord';

/** Options of {@link DiscordAdapter}. */
export interface DiscordOptions {
  readonly core: Core;
  readonly bot: Bot;
  readonly token: string;
  /** REST base URL override (proxies, tests), e.g. http://127.0.0.1:1234/api. */
  readonly apiUrl?: string | undefined;
  /** Register commands in this guild only (instant) instead of globally. */
  readonly guildId?: string | undefined;
  /** Minimum time between progress edits. */
  readonly progressIntervalMs?: number;
  /** Members with this role (name or id) are flowbot admins, besides those with Manage Server. */
  readonly adminRole?: string | undefined;
  /** Loopback `host:port` origins whose attachments may be fetched besides Discord's CDN: tests only. */
  readonly attachmentTestOrigins?: readonly string[];
}

/** The /imagine command with options for the common flags. */
export function imagineCommand() {
  return new SlashCommandBuilder()
    .setName('imagine')
    .setDescription('Make images from a prompt')
    .addStringOption((o) =>
      o
        .setName('prompt')
        .setDescription('What to draw (flags like --ar 16:9 work too)')
        .setRequired(true)
        .setMaxLength(1500),
    )
    .addStringOption((o) => o.setName('negative').setDescription('What to avoid'))
    .addStringOption((o) => o.setName('aspect').setDescription('Aspect ratio W:H, e.g. 16:9'))
    .addIntegerOption((o) =>
      o
        .setName('seed')
        .setDescription('Seed for a repeatable image')
        .setMinValue(0)
        .setMaxValue(4_294_967_295),
    )
    .addIntegerOption((o) =>
      o.setName('steps').setDescription('Denoising steps').setMinValue(1).setMaxValue(150),
    )
    .addStringOption((o) => o.setName('model').setDescription('Model').setAutocomplete(true))
    .addStringOption((o) => o.setName('style').setDescription('Style word, e.g. 3d'))
    .addAttachmentOption((o) =>
      o.setName('image').setDescription('An image to start from (img2img); --iw 0–2 sets how much it counts'),
    );
}

/** Other commands, with their text argument. */
const SIMPLE_COMMANDS: [name: string, description: string, argument?: string][] = [
  ['settings', 'Your defaults (e.g. "steps 12", "remix on")', 'what'],
  ['info', 'Parameters and lineage of an image', 'image'],
  ['cancel', 'Cancel your job', 'job'],
  ['queue', 'Your jobs and their places in line'],
  ['quota', 'What you have used of your daily quota, and when it resets'],
  ['help', 'How to use flowbot'],
];

interface Progress {
  readonly interaction?: ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;
  /** A follow-up of the interaction (the second and later jobs of one request); its original otherwise. */
  readonly messageId?: string;
  last: number;
}

/** Discord, through discord.js. */
export class DiscordAdapter {
  readonly client: Client;
  private readonly options: DiscordOptions;
  private readonly progress = new Map<string, Progress>();
  private readonly uploadLimits = new Map<string, number>();
  private readonly attachments;

  constructor(options: DiscordOptions) {
    this.options = options;
    this.attachments = discordAttachmentSource(options.attachmentTestOrigins);
    this.client = new Client({
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.GuildMessageReactions,
        GatewayIntentBits.DirectMessages,
        GatewayIntentBits.MessageContent,
      ],
      partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User],
      // Every send, reply, edit and DM parses no mentions unless it names whom it may ping.
      allowedMentions: NO_MENTIONS,
      ...(options.apiUrl ? { rest: { api: options.apiUrl } } : {}),
    });
    this.client.rest.on('response', (request, response) => {
      if (response.status >= 400)
        log.warn('Discord REST error', {
          route: `${request.method} ${request.route}`,
          status: response.status,
        });
    });
    this.client.on(
      Events.InteractionCreate,
      (interaction) => void this.guard('interaction', () => this.onInteraction(interaction)),
    );
    this.client.on(
      Events.MessageCreate,
      (message) => void this.guard('message', () => this.onMessage(message)),
    );
    this.client.on(
      Events.MessageReactionAdd,
      (reaction, user) => void this.guard('reaction', () => this.onReaction(reaction, user)),
    );
    this.client.on(Events.Error, (error) => log.error('discord.js error', { error }));
    this.subscribe();
  }

  /** Logs in, registers the slash commands, and resolves once the client is ready. */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    await this.client.login(this.options.token);
    await ready;
    await this.registerCommands();
  }

  async stop(): Promise<void> {
    await this.client.destroy();
  }

  private async registerCommands(): Promise<void> {
    const commands = [
      imagineCommand().toJSON(),
      ...SIMPLE_COMMANDS.map(([name, description, argument]) => {
        const builder = new SlashCommandBuilder().setName(name).setDescription(description);
        if (argument) builder.addStringOption((o) => o.setName(argument).setDescription(argument));
        return builder.toJSON();
      }),
    ];
    const rest = new REST(this.options.apiUrl ? { api: this.options.apiUrl } : {}).setToken(
      this.options.token,
    );
    const appId = this.client.application?.id ?? this.client.user?.id;
    if (!appId) return;
    const route = this.options.guildId
      ? `/applications/${appId}/guilds/${this.options.guildId}/commands`
      : `/applications/${appId}/commands`;
    await rest
      .put(route as `/${string}`, { body: commands })
      .catch((error: unknown) => log.error('registering slash commands failed', { route, error }));
  }

  /** Runs a handler; nothing a handler throws takes the process down. */
  private async guard(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      log.error(`handling a Discord ${what} failed`, { error });
    }
  }

  private ctx(
    user: User | PartialUser,
    channelId: string,
    isAdmin = false,
    roles: ChatContext['roles'] = [],
  ): ChatContext {
    return {
      platform: PLATFORM,
      userId: user.id,
      userName: user.username ?? user.id,
      channelId,
      isAdmin,
      ...(roles.length > 0 ? { roles } : {}),
    };
  }

  // ---- inbound ------------------------------------------------------------------------------------------

  /** Admins: members with Manage Server, and members with DISCORD_ADMIN_ROLE (by name or id). */
  private isAdmin(interaction: Interaction): boolean {
    if (interaction.memberPermissions?.has('ManageGuild')) return true;
    const role = this.options.adminRole;
    const member = interaction.member;
    if (!role || !member) return false;
    const roles = member.roles;
    if (Array.isArray(roles)) return roles.includes(role);
    return roles.cache.some((r) => r.id === role || r.name === role);
  }

  private async onInteraction(interaction: Interaction): Promise<void> {
    const channelId = interaction.channelId ?? '';
    const isAdmin = this.isAdmin(interaction);
    const roles = rolesOf(interaction.guild, interaction.member);
    if ('attachmentSizeLimit' in interaction && typeof interaction.attachmentSizeLimit === 'number') {
      this.uploadLimits.set(channelId, interaction.attachmentSizeLimit);
    }
    if (interaction.isAutocomplete()) {
      const typed = String(interaction.options.getFocused()).toLowerCase();
      const models = this.options.core.models
        .list()
        .filter((m) => m.includes(typed))
        .slice(0, 25);
      await interaction.respond(models.map((m) => ({ name: m, value: m })));
      return;
    }
    if (interaction.isChatInputCommand()) {
      // The deferral must come within 3 s, before the answer is known, and cannot turn private later:
      // so it is private (errors, questions, the job's status), and results go to the channel publicly.
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      const text =
        interaction.commandName === 'imagine'
          ? imagineText(interaction)
          : (interaction.options.data[0]?.value?.toString() ?? '');
      const image = interaction.options.getAttachment('image', false);
      const replies = await this.options.bot.handle({
        kind: 'command',
        name: interaction.commandName,
        text,
        ctx: this.ctx(interaction.user, channelId, isAdmin, roles),
        ...(image ? { attachment: uploadOf(image, this.attachments) } : {}),
      });
      await this.answerInteraction(interaction, replies);
      return;
    }
    if (interaction.isButton() || interaction.isModalSubmit()) {
      const fields: Record<string, string> = {};
      if (interaction.isModalSubmit())
        for (const [id, field] of interaction.fields.fields)
          fields[id] = 'value' in field ? String(field.value) : '';
      const replies = await this.options.bot.handle({
        kind: 'action',
        customId: interaction.customId,
        ctx: this.ctx(interaction.user, channelId, isAdmin, roles),
        ...(interaction.isModalSubmit() ? { fields } : {}),
      });
      const form = replies.find((r) => r.type === 'modal');
      if (form && form.type === 'modal' && interaction.isButton()) {
        await interaction.showModal(modal(form.modal));
        return;
      }
      const replyTo = interaction.isButton() ? interaction.message.id : interaction.message?.id;
      const privately = replies.every((r) => r.type === 'text');
      await interaction.deferReply(privately ? { flags: MessageFlags.Ephemeral } : {});
      await this.answerInteraction(interaction, replies, replyTo, privately);
    }
  }

  /**
   * A reply to one of flowbot's messages is an edit of that message's image; a plain message in a
   * thread that holds flowbot's images edits the thread's latest one. Other messages are ignored.
   */
  private async onMessage(message: Message): Promise<void> {
    if (message.author.bot || message.author.id === this.client.user?.id) return;
    const store = this.options.bot.conversations;
    const isOurs = (id: string) => store.findChatMessage(PLATFORM, message.channelId, id) !== undefined;
    const brought = await broughtImage(message, this.client.user?.id, this.attachments, isOurs);
    if (brought) return this.onUpload(message, brought);
    const inThread = !message.reference && message.channel.isThread();
    const target = message.reference?.messageId ?? (inThread ? message.channelId : undefined);
    if (!target) return;
    const known = inThread
      ? store.latestImageInThread(PLATFORM, message.channelId, message.channelId)
      : store.findChatMessage(PLATFORM, message.channelId, target);
    if (!known) return;
    // Without the privileged MessageContent intent, only messages that mention the bot carry text.
    const text = message.content.replace(/<@!?\d+>/g, '').trim();
    if (!text && message.attachments.size === 0) return;
    // The command layer fetches the attachment once its cheap checks (channel, limits, size) pass.
    const attachment = message.attachments.first();
    const upload = attachment ? uploadOf(attachment, this.attachments) : undefined;
    const event: InboundEventInput = {
      kind: 'reply',
      text,
      target: { channelId: message.channelId, messageId: target },
      ctx: {
        ...this.ctx(message.author, message.channelId, false, rolesOf(message.guild, message.member)),
        ...(inThread ? { threadId: message.channelId } : {}),
      },
      ...(upload ? { attachment: upload } : {}),
    };
    await this.answerMessage(
      message.channel as SendableChannels,
      message.author,
      await this.options.bot.handle(event),
      message.id,
    );
  }

  /** A message that brings a picture (and perhaps an instruction for it). */
  private async onUpload(message: Message, brought: BroughtImage): Promise<void> {
    const ctx = this.ctx(message.author, message.channelId, false, rolesOf(message.guild, message.member));
    const replies = await this.options.bot.handle({
      kind: 'upload',
      text: brought.text,
      ctx: { ...ctx, messageId: brought.messageId },
      attachment: brought.upload,
    });
    await this.answerMessage(message.channel as SendableChannels, message.author, replies, message.id);
  }

  private async onReaction(
    reaction: MessageReaction | PartialMessageReaction,
    user: User | PartialUser,
  ): Promise<void> {
    if (user.bot || user.id === this.client.user?.id) return;
    const message = reaction.message;
    if (!this.options.bot.conversations.findChatMessage(PLATFORM, message.channelId, message.id)) return;
    const replies = await this.options.bot.handle({
      kind: 'reaction',
      emoji: reaction.emoji.name ?? '',
      target: { channelId: message.channelId, messageId: message.id },
      ctx: this.ctx(
        user,
        message.channelId,
        false,
        rolesOf(message.guild, message.guild?.members.cache.get(user.id)),
      ),
    });
    const channel = (message.channel ??
      (await this.client.channels.fetch(message.channelId))) as SendableChannels;
    await this.answerMessage(channel, user, replies, message.id);
  }

  // ---- answers ------------------------------------------------------------------------------------------

  private async answerInteraction(
    interaction: ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction,
    replies: Reply[],
    replyTo?: string,
    privately = true,
  ): Promise<void> {
    let answered = false;
    for (const reply of replies) {
      if (reply.type === 'text') await answerText(interaction, reply, privately);
      else if (reply.type === 'queued' && answered) {
        // The second and later jobs of one request (permutations, --repeat) get follow-ups of their own.
        // As private as the reply it follows: a status is the asker's alone, the result is public.
        const followUp = await interaction.followUp({
          content: reply.text,
          ...(privately ? { flags: MessageFlags.Ephemeral } : {}),
        });
        this.progress.set(reply.jobId, { interaction, messageId: followUp.id, last: 0 });
        this.options.bot.conversations.recordChatMessage({
          platform: PLATFORM,
          channelId: followUp.channelId,
          messageId: followUp.id,
          jobId: reply.jobId,
          threadId: replyTo ?? null,
        });
      } else if (reply.type === 'queued') {
        answered = true;
        await interaction.editReply({ content: reply.text });
        this.progress.set(reply.jobId, { interaction, last: 0 });
        this.options.bot.conversations.recordChatMessage({
          platform: PLATFORM,
          channelId: interaction.channelId ?? '',
          messageId: `interaction-${interaction.id}`,
          jobId: reply.jobId,
          threadId: replyTo ?? null,
        });
      } else if (reply.type === 'image') {
        await interaction.editReply({ content: reply.view.text });
        await this.postResult(reply.view, interaction.channelId ?? '', interaction.user.id, replyTo);
      } else if (reply.type === 'dm') {
        await interaction.user
          .send(reply.text)
          .catch((error: unknown) => log.warn('cannot DM the user', { error }));
        await interaction.editReply({ content: 'Sent you a direct message.' });
      }
    }
  }

  private async answerMessage(
    channel: SendableChannels,
    user: User | PartialUser,
    replies: Reply[],
    replyTo: string,
  ): Promise<void> {
    for (const reply of replies) {
      switch (reply.type) {
        case 'text':
          if (!reply.ephemeral) {
            await channel.send({
              content: reply.text,
              reply: { messageReference: replyTo, failIfNotExists: false },
            });
            break;
          }
          // No interaction to answer privately: tell the person by DM rather than in the channel.
          try {
            await user.send(reply.text);
          } catch {
            await channel.send({
              content: `<@${user.id}> ${reply.text}`,
              allowedMentions: mentionOnly(user.id),
              reply: { messageReference: replyTo, failIfNotExists: false },
            });
          }
          break;
        case 'queued': {
          const status = await channel.send({
            content: `<@${user.id}> ${reply.text}`,
            allowedMentions: mentionOnly(user.id),
            reply: { messageReference: replyTo, failIfNotExists: false },
          });
          this.progress.set(reply.jobId, { last: 0 });
          this.options.bot.conversations.recordChatMessage({
            platform: PLATFORM,
            channelId: status.channelId,
            messageId: status.id,
            jobId: reply.jobId,
            threadId: replyTo,
          });
          break;
        }
        case 'image':
          await this.postResult(reply.view, channel.id, user.id, replyTo);
          break;
        case 'dm':
          await user.send(reply.text).catch((error: unknown) => log.warn('cannot DM the user', { error }));
          break;
        case 'delete':
          await channel.messages
            .delete(reply.messageId)
            .catch((error: unknown) => log.warn('cannot delete the message', { error }));
          break;
        case 'modal':
          break; // forms need an interaction; reactions and replies never ask for one
      }
    }
  }

  // ---- outbound -----------------------------------------------------------------------------------------

  private subscribe(): void {
    watchJobs(this.options.core.queue, PLATFORM, {
      progress: (job, p) => {
        const entry = this.progress.get(job.id);
        const now = Date.now();
        if (!entry || now - entry.last < (this.options.progressIntervalMs ?? 1500)) return;
        entry.last = now;
        const files = p.preview ? [{ attachment: Buffer.from(p.preview), name: 'preview.png' }] : [];
        void this.editStatus(job.id, entry, progressText(job, p.step, p.total), files);
      },
      notice: (job, text) => {
        const entry = this.progress.get(job.id);
        if (entry) void this.editStatus(job.id, entry, `⏳ ${text}`, []);
      },
      succeeded: (job) => {
        const view = this.options.bot.resultView(job.id);
        const status = this.options.bot.conversations
          .chatMessagesOfJob(job.id)
          .find((m) => m.platform === PLATFORM && !m.imageId);
        const entry = this.progress.get(job.id);
        this.progress.delete(job.id);
        if (!view) return;
        void this.guard('result', async () => {
          await this.postResult(
            view,
            job.channelId ?? status?.channelId ?? '',
            job.userId,
            status?.threadId ?? undefined,
          );
          if (entry) await this.editStatus(job.id, entry, `✅ ${view.text}`, []);
        });
      },
      ended: (job, text) => {
        const entry = this.progress.get(job.id);
        this.progress.delete(job.id);
        if (entry) void this.editStatus(job.id, entry, text, []);
      },
    });
  }

  private async editStatus(
    jobId: string,
    entry: Progress,
    content: string,
    files: { attachment: Buffer; name: string }[],
  ): Promise<void> {
    try {
      if (entry.interaction) {
        await entry.interaction.editReply({
          content,
          files,
          attachments: files.length ? undefined : [],
          ...(entry.messageId ? { message: entry.messageId } : {}),
        } as never);
        return;
      }
      const status = this.options.bot.conversations
        .chatMessagesOfJob(jobId)
        .find((m) => m.platform === PLATFORM && !m.imageId && !m.messageId.startsWith('interaction-'));
      if (!status) return;
      const channel = (await this.client.channels.fetch(status.channelId)) as SendableChannels | null;
      await channel?.messages.edit(status.messageId, { content, files });
    } catch (error) {
      log.warn('progress edit failed', { error });
    }
  }

  /** Posts a result as a regular channel message that mentions the requester, with its buttons. */
  private async postResult(
    view: ResultView,
    channelId: string,
    userId: string,
    replyTo?: string,
  ): Promise<void> {
    const { jobId, text } = view;
    // `settings private on`: the result goes to its owner by DM, not to the channel.
    const channel = view.private
      ? await this.client.users.createDM(userId)
      : ((await this.client.channels.fetch(channelId)) as SendableChannels | null);
    if (!channel) {
      log.warn('result channel is gone', { channel: channelId });
      return;
    }
    const file = await fitAttachment(
      readFileSync(view.file),
      `flowbot-${view.imageId}`,
      this.uploadLimits.get(channelId) ?? DEFAULT_ATTACHMENT_LIMIT,
    );
    const message = await channel.send({
      content: `<@${userId}> ${text}\n-# ${view.context}`,
      files: [file],
      components: componentRows(view.buttons),
      allowedMentions: mentionOnly(userId),
      ...(replyTo && /^\d+$/.test(replyTo) && !view.private
        ? { reply: { messageReference: replyTo, failIfNotExists: false } }
        : {}),
    });
    this.options.bot.conversations.recordChatMessage({
      platform: PLATFORM,
      channelId: channel.id,
      messageId: message.id,
      imageId: view.imageId,
      jobId,
    });
  }
}

/** The /imagine options as prompt text with flags. */
function imagineText(interaction: ChatInputCommandInteraction): string {
  const o = interaction.options;
  const parts = [o.getString('prompt', true)];
  const negative = o.getString('negative');
  const aspect = o.getString('aspect');
  const seed = o.getInteger('seed');
  const steps = o.getInteger('steps');
  const model = o.getString('model');
  const style = o.getString('style');
  if (aspect) parts.push(`--ar ${aspect}`);
  if (seed !== null) parts.push(`--seed ${seed}`);
  if (steps !== null) parts.push(`--steps ${steps}`);
  if (model) parts.push(`--model ${model}`);
  if (style) parts.push(`--style ${style}`);
  if (negative) parts.push(`--no ${negative}`);
  return parts.join(' ');
}
