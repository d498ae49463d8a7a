/** Discord components, modals and attachments for flowbot's results. */
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  type MessageMentionOptions,
  ModalBuilder,
  TextInputBuilder,
  TextInputStyle,
} from 'discord.js';
import sharp from 'sharp';
import type { ButtonSpec, ModalSpec } from '../../commands/types.js';
import { addPngText, readPngText } from '../../src/pipeline/png.js';
import { isLinkable } from '../links.js';

/**
 * The client's default: no message pings anyone by what its text says. Prompts, replies and error
 * texts are user text, and "@everyone" or "<@&role>" in them must stay text.
 */
export const NO_MENTIONS: MessageMentionOptions = { parse: [] };

/** For a message that names its owner: only that person is pinged, nobody its text mentions. */
export function mentionOnly(userId: string): MessageMentionOptions {
  return { parse: [], users: [userId] };
}

/**
 * Discord rows of buttons, as Delivery laid them out (at most five per row, five rows). A link button
 * Discord would refuse is left out, so that the result is still posted.
 */
export function componentRows(rows: readonly (readonly ButtonSpec[])[]): ActionRowBuilder<ButtonBuilder>[] {
  return rows
    .map((row) => row.filter((b) => b.url === undefined || isLinkable(b.url)))
    .filter((row) => row.length > 0)
    .map((row) => new ActionRowBuilder<ButtonBuilder>().addComponents(row.map(button)));
}

function button(b: ButtonSpec): ButtonBuilder {
  if (b.url) return new ButtonBuilder().setStyle(ButtonStyle.Link).setURL(b.url).setLabel(b.label);
  const style =
    b.style === 'primary'
      ? ButtonStyle.Primary
      : b.style === 'danger'
        ? ButtonStyle.Danger
        : ButtonStyle.Secondary;
  return new ButtonBuilder().setCustomId(b.customId).setLabel(b.label).setStyle(style);
}

/** A Discord modal for a flowbot form. */
export function modal(spec: ModalSpec): ModalBuilder {
  return new ModalBuilder()
    .setCustomId(spec.customId)
    .setTitle(spec.title.slice(0, 45))
    .addComponents(
      spec.fields.map((field) => {
        const input = new TextInputBuilder()
          .setCustomId(field.id)
          .setLabel(field.label.slice(0, 45))
          .setStyle(field.long ? TextInputStyle.Paragraph : TextInputStyle.Short)
          .setRequired(field.id !== 'prompt');
        if (field.value) input.setValue(field.value.slice(0, 4000));
        if (field.placeholder) input.setPlaceholder(field.placeholder.slice(0, 100));
        return new ActionRowBuilder<TextInputBuilder>().addComponents(input);
      }),
    );
}

/** Default upload limit when an interaction does not say (Discord's own default). */
export const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;

/**
 * The result file within the upload limit: the PNG as it is (with its parameter text chunk) when it
 * fits, else a smaller PNG, else a JPEG.
 */
export async function fitAttachment(png: Buffer, name: string, limit: number): Promise<AttachmentBuilder> {
  if (png.length <= limit) return new AttachmentBuilder(png, { name: `${name}.png` });
  const meta = await sharp(png).metadata();
  for (const factor of [0.75, 0.5, 0.35, 0.25]) {
    const width = Math.max(16, Math.round((meta.width ?? 512) * factor));
    // sharp drops text chunks: put the parameters back so the image still carries its recipe.
    const smaller = addPngText(
      await sharp(png).resize({ width }).png({ compressionLevel: 9 }).toBuffer(),
      readPngText(png),
    );
    if (smaller.length <= limit) return new AttachmentBuilder(smaller, { name: `${name}.png` });
  }
  for (const quality of [85, 70, 50]) {
    const jpeg = await sharp(png).jpeg({ quality }).toBuffer();
    if (jpeg.length <= limit) return new AttachmentBuilder(jpeg, { name: `${name}.jpg` });
  }
  return new AttachmentBuilder(await sharp(png).resize({ width: 256 }).jpeg({ quality: 50 }).toBuffer(), {
    name: `${name}.jpg`,
  });
}
