/** `info <image id>` (or ✉️): the seed, every parameter and the lineage. */
import { lorasOfExtra } from '../src/lora/facts.js';
import type { CommandDeps } from './context.js';
import { type ChatContext, type Reply, say } from './types.js';

/** The full description of an image. */
export function describeImage(deps: CommandDeps, imageId: string): string | undefined {
  const id = imageId.replace(/^#/, '').trim().toLowerCase();
  const image = deps.store.getImage(id);
  if (!image) return undefined;
  const lines = [
    `#${image.id} · ${image.operation} · ${image.width}×${image.height}`,
    `Prompt: ${image.prompt}`,
    ...(image.negativePrompt ? [`Negative: ${image.negativePrompt}`] : []),
    `Seed ${image.seed} · ${image.steps} steps · cfg ${image.guidance} · ${image.scheduler} · model ${image.model}${image.strength !== null ? ` · strength ${image.strength}` : ''}`,
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
  const chain = deps.store.lineage(image.id);
  if (chain.length > 1) lines.push(`Lineage: ${chain.map((i) => `#${i.id} (${i.operation})`).join(' ← ')}`);
  return lines.join('\n');
}

/** Handles `info`. */
export function info(deps: CommandDeps, _ctx: ChatContext, text: string): Reply {
  if (!text.trim())
    return say('Which image? Use "info <image id>", e.g. info k7fq2m (the id is under every result).');
  return say(
    describeImage(deps, text) ?? `I can't find an image "${text.trim()}". Image ids look like k7fq2m.`,
  );
}
