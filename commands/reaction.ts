/**
 * Reactions on results: 🔍/⬆️ upscale the image, 1️⃣–4️⃣ upscale a grid cell, ❌ cancel the job or delete
 * your result, ✉️ get the seed and parameters by direct message.
 */
import { type CommandDeps, cellOf, imageForMessage, single } from './context.js';
import { describeImage } from './info.js';
import type { ChatContext, Reply } from './types.js';
import { say } from './types.js';
import { biggerThan, upscale } from './upscale.js';

const NAMES: Record<string, string> = {
  '🔍': 'upscale',
  mag: 'upscale',
  '⬆️': 'upscale',
  '⬆': 'upscale',
  arrow_up: 'upscale',
  arrow_up_small: 'upscale',
  '🔼': 'upscale',
  '1️⃣': 'cell1',
  one: 'cell1',
  '2️⃣': 'cell2',
  two: 'cell2',
  '3️⃣': 'cell3',
  three: 'cell3',
  '4️⃣': 'cell4',
  four: 'cell4',
  '❌': 'cancel',
  x: 'cancel',
  '✉️': 'envelope',
  '✉': 'envelope',
  envelope: 'envelope',
  email: 'envelope',
};

/** What a reaction means, or undefined when flowbot ignores it. */
export function reactionMeaning(emoji: string): string | undefined {
  return NAMES[emoji.replace(/:/g, '')];
}

/** Handles a reaction on one of flowbot's messages; undefined when it is not one flowbot acts on. */
export function reaction(
  deps: CommandDeps,
  ctx: ChatContext,
  emoji: string,
  target: { channelId: string; messageId: string },
): Reply | undefined {
  const meaning = reactionMeaning(emoji);
  if (!meaning) return undefined;
  const record = deps.store.findChatMessage(ctx.platform, target.channelId, target.messageId);
  if (!record) return undefined; // not our message: stay quiet
  if (meaning === 'cancel') {
    if (record.jobId && !record.imageId) {
      const result = deps.queue.cancel(record.jobId, ctx.userId, ctx.isAdmin);
      return say(result.ok ? `Cancelled job ${record.jobId}.` : result.error.message);
    }
    const image = imageForMessage(deps, ctx.platform, target.channelId, target.messageId);
    if (image.userId !== ctx.userId && !ctx.isAdmin)
      return say('Only the person who made this image can delete it.');
    deps.store.deleteChatMessage(ctx.platform, target.channelId, target.messageId);
    return { type: 'delete', channelId: target.channelId, messageId: target.messageId };
  }
  const image = imageForMessage(deps, ctx.platform, target.channelId, target.messageId);
  if (meaning === 'envelope') return { type: 'dm', text: describeImage(deps, image.id, ctx) ?? '' };
  const source = meaning === 'upscale' ? single(deps, image) : cellOf(deps, image, Number(meaning.slice(4)));
  return upscale(deps, ctx, source, biggerThan(source, image, 2));
}
