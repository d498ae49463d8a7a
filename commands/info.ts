/** `info <image id>` (or ✉️): the seed, every parameter and the lineage. */
import { lorasOfExtra } from '../src/lora/facts.js';
import type { CommandDeps } from './context.js';
import { checkNotWithheld, describeModeration, isBlocked } from './moderation.js';
import { type ChatContext, type Reply, say } from './types.js';

/**
 * The full description of an image. Admins also see image moderation's decision and score; an image
 * moderation blocked is described to admins only, and shows in others' lineages as withheld.
 */
export function describeImage(deps: CommandDeps, imageId: string, ctx: ChatContext): string | undefined {
  const id = imageId.replace(/^#/, '').trim().toLowerCase();
  const image = deps.store.getImage(id);
  if (!image) return undefined;
  checkNotWithheld(deps, ctx, image.id);
  const lines = [
    `#${image.id} · ${image.operation} · ${image.width}×${image.height}`,
    ...(image.operation === 'upload'
      ? [uploadLine(image.extra)]
      : [
          `Prompt: ${image.prompt}`,
          ...(image.negativePrompt ? [`Negative: ${image.negativePrompt}`] : []),
          `Seed ${image.seed} · ${image.steps} steps · cfg ${image.guidance} · ${image.scheduler} · model ${image.model}${image.strength !== null ? ` · strength ${image.strength}` : ''}`,
        ]),
  ];
  const loras = lorasOfExtra(image.extra);
  if (loras.length > 0)
    lines.push(
      `LoRAs: ${loras.map((l) => `${l.name} ${l.weight}${l.hash ? ` (${l.hash})` : ''}`).join(', ')}`,
    );
  if (image.maskId) {
    const mask = deps.store.getMask(image.maskId);
    if (mask) lines.push(`Mask: ${mask.source} "${mask.spec}"`);
  }
  const moderation = ctx.isAdmin ? describeModeration(deps, image.id) : undefined;
  if (moderation) lines.push(moderation);
  const chain = deps.store.lineage(image.id);
  const shown = (i: { id: string; operation: string }) =>
    !ctx.isAdmin && isBlocked(deps, i.id) ? '(withheld)' : `#${i.id} (${i.operation})`;
  if (chain.length > 1) lines.push(`Lineage: ${chain.map(shown).join(' ← ')}`);
  return lines.join('\n');
}

/** Who brought an uploaded picture, and what it was (an upload has no prompt, seed or steps). */
function uploadLine(extra: Record<string, unknown> | null): string {
  const by = typeof extra?.uploadedBy === 'string' ? extra.uploadedBy : 'someone';
  const name = typeof extra?.name === 'string' ? ` · "${extra.name}"` : '';
  const format = typeof extra?.format === 'string' ? ` · ${extra.format.toUpperCase()}` : '';
  const animated = extra?.animated === true ? ' · first frame of an animation' : '';
  return `Uploaded by ${by}${name}${format}${animated}`;
}

/** Handles `info`. */
export function info(deps: CommandDeps, ctx: ChatContext, text: string): Reply {
  if (!text.trim())
    return say('Which image? Use "info <image id>", e.g. info k7fq2m (the id is under every result).');
  return say(
    describeImage(deps, text, ctx) ?? `I can't find an image "${text.trim()}". Image ids look like k7fq2m.`,
  );
}
