/**
 * Which Discord answers are private. `Reply.ephemeral` decides for text: a private text is seen by the
 * person who asked alone (an ephemeral reply or follow-up, flags 64), a public one by the channel.
 */
import {
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  MessageFlags,
  type ModalSubmitInteraction,
} from 'discord.js';
import type { Reply } from '../../commands/types.js';

type Answerable = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;
type TextReply = Extract<Reply, { type: 'text' }>;

/**
 * Answers an interaction with a text. `deferredPrivately` says whether its deferral was ephemeral: a
 * deferral's privacy cannot change, so a private text under a public one is an ephemeral follow-up, and
 * a public text under a private one a follow-up without the flag.
 */
export async function answerText(
  interaction: Answerable,
  reply: TextReply,
  deferredPrivately: boolean,
): Promise<void> {
  if (reply.ephemeral === deferredPrivately) {
    await interaction.editReply({ content: reply.text });
    return;
  }
  await interaction.followUp({
    content: reply.text,
    ...(reply.ephemeral ? { flags: MessageFlags.Ephemeral } : {}),
  });
}
