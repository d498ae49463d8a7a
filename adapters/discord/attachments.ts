/**
 * Images people bring on Discord (the inbound side): the `image` option of `/imagine`, a message that
 * mentions flowbot with a file attached, and a message that mentions flowbot in reply to someone's
 * posted picture. Files are described to the command layer with a way to fetch them from Discord's
 * attachment CDN only; nothing is downloaded here.
 */
import type { Attachment as DiscordAttachment, Message } from 'discord.js';
import type { Attachment as Upload } from '../../commands/types.js';
import { type AttachmentSource, DISCORD_ATTACHMENTS, downloader } from '../download.js';

/** Discord's attachment hosts, plus the loopback origins a test names (none otherwise). */
export function discordAttachmentSource(testOrigins: readonly string[] = []): AttachmentSource {
  return { ...DISCORD_ATTACHMENTS, testOrigins };
}

/** A Discord attachment as an upload: its name, type and stated size, and a bounded download. */
export function uploadOf(file: DiscordAttachment, source: AttachmentSource): Upload {
  return {
    name: file.name,
    ...(file.contentType ? { contentType: file.contentType } : {}),
    size: file.size,
    fetch: downloader(file.url, source),
  };
}

/** What a message brings: the upload, the message that shows it, and the words for it. */
export interface BroughtImage {
  readonly upload: Upload;
  /** The message whose picture it is (the person's own, or the one they replied to). */
  readonly messageId: string;
  readonly text: string;
}

/**
 * The picture a message brings to flowbot, if any: the message must mention flowbot, and either
 * carry a file or reply to a message that carries one. A reply to one of flowbot's own images is an
 * edit of that image (its attachment, a mask), so `isFlowbotImage` leaves those out.
 */
export async function broughtImage(
  message: Message,
  botId: string | undefined,
  source: AttachmentSource,
  isFlowbotImage: (messageId: string) => boolean,
): Promise<BroughtImage | undefined> {
  if (!botId || !new RegExp(`<@!?${botId}>`).test(message.content)) return undefined;
  const repliedTo = message.reference?.messageId;
  if (repliedTo && isFlowbotImage(repliedTo)) return undefined;
  const text = message.content.replace(/<@!?\d+>/g, '').trim();
  const own = message.attachments.first();
  if (own) return { upload: uploadOf(own, source), messageId: message.id, text };
  if (!repliedTo) return undefined;
  const original = await message.fetchReference().catch(() => undefined);
  const theirs = original?.attachments.first();
  return theirs && original ? { upload: uploadOf(theirs, source), messageId: original.id, text } : undefined;
}
