/** Variations: V1–V4 on grids, Vary (Subtle) and Vary (Strong) on single images, "variations" replies. */
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, newSeed, truncate } from './context.js';
import { effectiveDefaults } from './settings-model.js';
import type { ChatContext, Reply } from './types.js';

/** Presets of "Vary (Subtle)" and "Vary (Strong)" (img2img strength). */
export const VARY_STRENGTH = { subtle: 0.35, strong: 0.7 } as const;

/** Strength of a V button (Midjourney's V is a strong variation). */
export const GRID_VARY_STRENGTH = 0.6;

/** Queues `n` img2img variations of an image. */
export function vary(
  deps: CommandDeps,
  ctx: ChatContext,
  source: ImageRecord,
  strength: number,
  options: { prompt?: string; label?: string } = {},
): Reply {
  const defaults = effectiveDefaults(deps.store, ctx.userId, ctx.channelId);
  const prompt = options.prompt ?? source.prompt;
  const seed = newSeed();
  const n = defaults.n ?? 4;
  const label =
    options.label ??
    `Variations (${strength === VARY_STRENGTH.subtle ? 'subtle' : strength === VARY_STRENGTH.strong ? 'strong' : strength})`;
  const explanation = `${label}: "${truncate(prompt, 200)}" · img2img ${strength} · seed ${seed} · from #${source.id}`;
  return enqueue(deps, ctx, {
    kind: 'variation',
    params: {
      parentId: source.id,
      prompt,
      negativePrompt: source.negativePrompt,
      seed,
      strength,
      steps: source.steps,
      guidance: source.guidance,
      n,
      model: source.model,
      explanation,
      // Variations of a tile stay tiles.
      ...(madeAsTile(deps, source) ? { tile: true } : {}),
    },
  });
}

/** True when the image (or the grid it is a cell of) was made with `--tile`. */
function madeAsTile(deps: CommandDeps, image: ImageRecord): boolean {
  const job = image.jobId ? deps.store.getJob(image.jobId) : undefined;
  return (job?.params as { tile?: unknown } | undefined)?.tile === true;
}
