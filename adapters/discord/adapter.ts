/**
 * The Discord adapter (discord.js v14), inbound: slash commands, buttons and modals, replies to results
 * and reactions become internal events, and the command layer's replies go to Delivery with the place and
 * interaction they answer. What flowbot posts is said by the {@link DiscordSurface} (surface.ts). Every
 * button id carries the image and the action, so buttons keep working after a restart.
 */
import {
  type ChatInputCommandInteraction,
  Client,
  Events,
  GatewayIntentBits,
  type Interaction,
  type Message,
  MessageFlags,
  type MessageReaction,
  type PartialMessageReaction,
  Partials,
  type PartialUser,
  REST,
  SlashCommandBuilder,
  type User,
} from 'discord.js';
import type { Bot } from '../../commands/bot.js';
import type { Outbox } from '../../commands/delivery.js';
import type { Place } from '../../commands/surface.js';
import type { ChatContext, InboundEventInput, Reply } from '../../commands/types.js';
import { createLogger } from '../../src/log.js';
import { type BroughtImage, broughtImage, discordAttachmentSource, uploadOf } from './attachments.js';
import { answerAutocomplete } from './autocomplete.js';
import { rolesOf } from './members.js';
import { NO_MENTIONS } from './render.js';
import { type DiscordAnswer, DiscordSurface } from './surface.js';

const log = createLogger('discord');
const PLATFORM = 'discord';

/** Options of {@link DiscordAdapter}. */
export interface DiscordOptions {
  readonly bot: Bot;
  readonly token: string;
  /** REST base URL override (proxies, tests), e.g. http://127.0.0.1:1234/api. */
  readonly apiUrl?: string | undefined;
  /** Register commands in this guild only (instant) instead of globally. */
  readonly guildId?: string | undefined;
  /** The least time between two progress edits of one status message (Discord's rate limits). */
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
    .addStringOption((o) =>
      o.setName('lora').setDescription('LoRAs as name:weight, e.g. detail:0.8').setAutocomplete(true),
    )
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

/** Discord, through discord.js. */
export class DiscordAdapter {
  readonly client: Client;
  private readonly options: DiscordOptions;
  private readonly surface: DiscordSurface;
  private readonly outbox: Outbox<DiscordAnswer>;
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
    this.surface = new DiscordSurface(this.client, options.progressIntervalMs ?? 1500);
    this.outbox = options.bot.delivery.attach(this.surface);
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
      this.surface.noteUploadLimit(channelId, interaction.attachmentSizeLimit);
    }
    if (interaction.isAutocomplete()) {
      await answerAutocomplete(this.options.bot, interaction);
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
        ctx: {
          ...this.ctx(interaction.user, channelId, isAdmin, roles),
          ...ageRestricted(interaction.channel),
        },
        ...(image ? { attachment: uploadOf(image, this.attachments) } : {}),
      });
      const answer = { interaction, privately: true, deferred: true, answered: false };
      await this.outbox.deliver(replies, { userId: interaction.user.id, channelId }, answer);
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
      const place: Place = {
        userId: interaction.user.id,
        channelId,
        replyTo: interaction.isButton() ? interaction.message.id : interaction.message?.id,
      };
      const form = replies.find((r) => r.type === 'modal');
      if (form && interaction.isButton()) {
        const answer = { interaction, privately: false, deferred: false, answered: false };
        await this.outbox.deliver([form], place, answer);
        return;
      }
      // A job's status is public (it becomes the result); answers that are only words are private.
      const privately = replies.every((r) => r.type === 'text');
      await interaction.deferReply(privately ? { flags: MessageFlags.Ephemeral } : {});
      await this.outbox.deliver(replies, place, { interaction, privately, deferred: true, answered: false });
    }
  }

  /**
   * A reply to one of flowbot's messages is an edit of that message's image; a plain message in a
   * thread that holds flowbot's images edits the thread's latest one. Other messages are ignored.
   */
  private async onMessage(message: Message): Promise<void> {
    if (message.author.bot || message.author.id === this.client.user?.id) return;
    const delivery = this.options.bot.delivery;
    const isOurs = (id: string) => delivery.isOurs(PLATFORM, message.channelId, id);
    const brought = await broughtImage(message, this.client.user?.id, this.attachments, isOurs);
    if (brought) return this.onUpload(message, brought);
    const inThread = !message.reference && message.channel.isThread();
    const target = message.reference?.messageId ?? (inThread ? message.channelId : undefined);
    if (!target) return;
    const known = inThread
      ? delivery.threadHasImages(PLATFORM, message.channelId, message.channelId)
      : delivery.isOurs(PLATFORM, message.channelId, target);
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
        ...this.messageCtx(message),
        ...(inThread ? { threadId: message.channelId } : {}),
      },
      ...(upload ? { attachment: upload } : {}),
    };
    await this.answerMessage(message, await this.options.bot.handle(event));
  }

  /** A message that brings a picture (and perhaps an instruction for it). */
  private async onUpload(message: Message, brought: BroughtImage): Promise<void> {
    const replies = await this.options.bot.handle({
      kind: 'upload',
      text: brought.text,
      ctx: { ...this.messageCtx(message), messageId: brought.messageId },
      attachment: brought.upload,
    });
    await this.answerMessage(message, replies);
  }

  /** Who wrote a person's message, where, and what they may do (messages carry no admin permission). */
  private messageCtx(message: Message): ChatContext {
    return this.ctx(message.author, message.channelId, false, rolesOf(message.guild, message.member));
  }

  /** The command layer's answer to a person's message, in reply to it. */
  private answerMessage(message: Message, replies: readonly Reply[]): Promise<void> {
    return this.outbox.deliver(replies, {
      userId: message.author.id,
      channelId: message.channelId,
      replyTo: message.id,
    });
  }

  private async onReaction(
    reaction: MessageReaction | PartialMessageReaction,
    user: User | PartialUser,
  ): Promise<void> {
    if (user.bot || user.id === this.client.user?.id) return;
    const message = reaction.message;
    if (!this.options.bot.delivery.isOurs(PLATFORM, message.channelId, message.id)) return;
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
    await this.outbox.deliver(replies, {
      userId: user.id,
      channelId: message.channelId,
      replyTo: message.id,
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
  for (const lora of (o.getString('lora') ?? '').split(/\s+/).filter(Boolean)) parts.push(`--lora ${lora}`);
  if (negative) parts.push(`--no ${negative}`);
  return parts.join(' ');
}

/** Discord's age-restricted ("NSFW") mark of a channel, for image moderation's default; nothing when unknown. */
function ageRestricted(channel: unknown): { channelNsfw?: boolean } {
  const nsfw = channel && typeof channel === 'object' && 'nsfw' in channel ? channel.nsfw : undefined;
  return typeof nsfw === 'boolean' ? { channelNsfw: nsfw } : {};
}
