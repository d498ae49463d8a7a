/**
 * Discord's side of the {@link ChatSurface} port: what Delivery says, said with discord.js. A job's status
 * message becomes its result where both are as public (an edit adds the file and the buttons, as
 * Midjourney does); a private status (a slash command's ephemeral reply) under a public result is removed.
 * Spoilers are Discord's own: the file is named `SPOILER_…`.
 */
import {
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Client,
  type Message,
  MessageFlags,
  type ModalSubmitInteraction,
  type SendableChannels,
} from 'discord.js';
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
import { componentRows, DEFAULT_ATTACHMENT_LIMIT, fitAttachment, mentionOnly, modal } from './render.js';

const log = createLogger('discord');

/** An interaction flowbot answers. */
export type Answerable = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;

/** The interaction an answer goes to, and what has been said on it so far. */
export interface DiscordAnswer {
  readonly interaction: Answerable;
  /** Whether its deferral was ephemeral (a deferral's privacy cannot change later). */
  readonly privately: boolean;
  /** False for a button whose answer is a form: a form cannot follow a deferral. */
  readonly deferred: boolean;
  /** Whether its deferred reply has been filled in already (later answers are follow-ups). */
  answered: boolean;
}

type Files = { attachment: Buffer; name: string }[];

/** Discord as a chat surface. */
export class DiscordSurface implements ChatSurface<DiscordAnswer> {
  readonly platform = 'discord' as const;
  readonly limits: SurfaceLimits;
  /** Messages posted through an interaction's webhook, which edits and removals must go through. */
  private readonly viaInteraction = new Map<string, Answerable>();
  /** Which of those are an interaction's original reply (addressed as `@original`). */
  private readonly originals = new Set<string>();
  private readonly uploadLimits = new Map<string, number>();

  constructor(
    private readonly client: Client,
    editIntervalMs: number,
  ) {
    this.limits = {
      uploadBytes: DEFAULT_ATTACHMENT_LIMIT,
      buttonsPerRow: 5,
      buttonRows: 5,
      editIntervalMs,
      privateResults: true,
      nativeSpoilers: true,
    };
  }

  /** Remembers a channel's upload limit, as an interaction reports it. */
  noteUploadLimit(channelId: string, bytes: number): void {
    this.uploadLimits.set(channelId, bytes);
  }

  async postStatus(place: Place, text: string, _jobId: string, answer?: DiscordAnswer) {
    if (answer) {
      const message = await this.answer(answer, text, answer.privately);
      return this.ref(message, answer.privately, place.replyTo);
    }
    const channel = await this.channel(place.channelId);
    const message = await channel?.send({
      content: `<@${place.userId}> ${text}`,
      allowedMentions: mentionOnly(place.userId),
      ...replyTo(place.replyTo),
    });
    return message ? this.ref(message, false, place.replyTo) : undefined;
  }

  async editStatus(status: MessageRef, update: StatusUpdate): Promise<void> {
    const files: Files = update.preview
      ? [{ attachment: Buffer.from(update.preview), name: 'preview.png' }]
      : [];
    await this.edit(status, { content: update.text, files, attachments: [] });
  }

  async postResult(post: ResultPost, place: Place): Promise<PostedResult> {
    const { view } = post;
    const limit = this.uploadLimits.get(place.channelId) ?? this.limits.uploadBytes;
    const name = `${post.spoiler ? 'SPOILER_' : ''}flowbot-${view.imageId}`;
    const file = await fitAttachment(post.png, name, limit);
    const content = {
      content: `<@${view.userId}> ${view.text}\n-# ${view.context}`,
      components: componentRows(post.rows),
      allowedMentions: mentionOnly(view.userId),
    };
    if (post.into) {
      const message = await this.edit(post.into, { ...content, files: [file], attachments: [] });
      if (message) return { messages: [this.ref(message, post.into.private)], replacedStatus: true };
    }
    const channel = post.privately
      ? await this.client.users.createDM(view.userId)
      : await this.channel(place.channelId);
    if (!channel) {
      log.warn('result channel is gone', { channel: place.channelId });
      return { messages: [], replacedStatus: false };
    }
    const message = await channel.send({
      ...content,
      files: [file],
      ...(post.privately ? {} : replyTo(place.replyTo)),
    });
    return { messages: [this.ref(message, post.privately)], replacedStatus: false };
  }

  async say(place: Place, text: string, answer?: DiscordAnswer): Promise<void> {
    if (answer) {
      await this.answer(answer, text, false);
      return;
    }
    const channel = await this.channel(place.channelId);
    await channel?.send({ content: text, ...replyTo(place.replyTo) });
  }

  async sayPrivately(place: Place, text: string, answer?: DiscordAnswer, direct = false): Promise<void> {
    if (answer && !direct) {
      await this.answer(answer, text, true);
      return;
    }
    const sent = await this.client.users
      .createDM(place.userId)
      .then((dm) => dm.send(text))
      .then(
        () => true,
        (error: unknown) => {
          log.warn('cannot DM the user', { error });
          return false;
        },
      );
    if (answer) await this.answer(answer, sent ? 'Sent you a direct message.' : text, true);
    else if (!sent) {
      // No interaction to answer privately and no DM: say it in the channel, to that person.
      const channel = await this.channel(place.channelId);
      await channel?.send({
        content: `<@${place.userId}> ${text}`,
        allowedMentions: mentionOnly(place.userId),
        ...replyTo(place.replyTo),
      });
    }
  }

  async openForm(_place: Place, form: ModalSpec, answer?: DiscordAnswer): Promise<void> {
    // Forms open from buttons alone; reactions and replies never ask for one.
    if (answer && !answer.deferred && answer.interaction.isButton())
      await answer.interaction.showModal(modal(form));
  }

  async remove(message: MessageRef): Promise<void> {
    const interaction = this.viaInteraction.get(message.messageId);
    this.viaInteraction.delete(message.messageId);
    try {
      if (interaction) await interaction.deleteReply(this.address(message));
      else await (await this.channel(message.channelId))?.messages.delete(message.messageId);
    } catch (error) {
      log.warn('cannot delete the message', { error });
    }
  }

  /** Fills in the deferred reply the first time, follow-ups after that (private as asked). */
  private async answer(answer: DiscordAnswer, text: string, ephemeral: boolean): Promise<Message> {
    const { interaction } = answer;
    let message: Message;
    if (!answer.answered && ephemeral === answer.privately) {
      answer.answered = true;
      message = await interaction.editReply({ content: text });
      this.originals.add(message.id);
    } else {
      message = await interaction.followUp({
        content: text,
        ...(ephemeral ? { flags: MessageFlags.Ephemeral } : {}),
      });
    }
    this.viaInteraction.set(message.id, interaction);
    return message;
  }

  private async edit(
    target: MessageRef,
    edit: { content: string; files: Files | Awaited<ReturnType<typeof fitAttachment>>[] } & Record<
      string,
      unknown
    >,
  ): Promise<Message | undefined> {
    const interaction = this.viaInteraction.get(target.messageId);
    try {
      if (interaction) return await interaction.editReply({ ...edit, message: this.address(target) });
      const channel = await this.channel(target.channelId);
      return await channel?.messages.edit(target.messageId, edit);
    } catch (error) {
      log.warn('editing a message failed', { error });
      return undefined;
    }
  }

  /** How an interaction's webhook addresses one of its messages. */
  private address(message: MessageRef): string {
    return this.originals.has(message.messageId) ? '@original' : message.messageId;
  }

  private async channel(channelId: string): Promise<SendableChannels | undefined> {
    const channel = await this.client.channels.fetch(channelId).catch(() => null);
    return channel?.isSendable() ? channel : undefined;
  }

  private ref(message: Message, isPrivate: boolean, threadId?: string): MessageRef {
    return { channelId: message.channelId, messageId: message.id, private: isPrivate, threadId };
  }
}

function replyTo(messageId: string | undefined) {
  return messageId && /^\d+$/.test(messageId)
    ? { reply: { messageReference: messageId, failIfNotExists: false } }
    : {};
}
