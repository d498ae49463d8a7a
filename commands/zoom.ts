/**
 * Zoom out, pan and widen: outpainting. The image is placed on a larger canvas, the new area is masked
 * and painted with the image's prompt (or the reply's), and the original pixels are kept (at their own
 * resolution when the canvas is larger than the model paints: see `src/pipeline/work-size.ts`).
 */

import { describeOutpaint, type Outpaint } from '../src/pipeline/canvas.js';
import { outpaintPlan } from '../src/pipeline/work-size.js';
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, newSeed, truncate } from './context.js';
import type { ChatContext, Reply } from './types.js';

/** Queues an outpainting of an image. */
export function outpaint(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  how: Outpaint,
  prompt?: string,
): Reply {
  const spec = deps.models.get(image.model);
  // The result's size: the canvas the model paints, or the canvas at the image's own resolution.
  const canvas = outpaintPlan(spec, image, how).result;
  const seed = newSeed();
  const text = prompt?.trim() || image.prompt;
  const explanation = `${describeOutpaint(how)[0]!.toUpperCase()}${describeOutpaint(how).slice(1)}: "${truncate(text, 160)}" · ${canvas.width}×${canvas.height}, the new area painted · seed ${seed} · from #${image.id}`;
  return enqueue(deps, ctx, {
    kind: 'outpaint',
    params: {
      parentId: image.id,
      outpaint: how,
      prompt: text,
      negativePrompt: image.negativePrompt,
      seed,
      steps: image.steps,
      guidance: image.guidance,
      model: image.model,
      explanation,
    },
  });
}
