/**
 * Exact edits ("darker", "mirror", "crop to 16:9"): done on the stored pixels with sharp, at once, with
 * no diffusion and no queue. The result is stored with operation `edit` and its parent, so it has a
 * lineage, buttons and undo like any other image.
 */
import { loadImagePixels, saveImage } from '../src/jobs.js';
import { applyEdit, describeEdit, type ExactEdit } from '../src/pipeline/edits.js';
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, checkAllowed, viewOf } from './context.js';
import { type ChatContext, type Reply, say } from './types.js';

/** Applies an exact edit to an image and answers with the new image. */
export async function exactEdit(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  edit: ExactEdit,
): Promise<Reply> {
  const refused = checkAllowed(deps, ctx);
  if (refused) return say(refused.message);
  const pixels = await loadImagePixels(deps, image);
  const edited = await applyEdit(pixels, edit);
  const what = describeEdit(edit);
  const saved = await saveImage(deps, edited, {
    operation: 'edit',
    prompt: image.prompt,
    negativePrompt: image.negativePrompt,
    seed: image.seed,
    steps: image.steps,
    guidance: image.guidance,
    scheduler: `exact:${edit.op}`,
    model: image.model,
    parentId: image.id,
    userId: ctx.userId,
    cell: null,
    // The recolour mask is recomputable from the parent's pixels; the record keeps the edit's words.
    extra: { edit: edit.op === 'recolour' ? { ...edit, mask: undefined } : edit },
  });
  return {
    type: 'image',
    view: viewOf(
      deps,
      saved,
      `Edited exactly: ${what} · no diffusion, the same pixels otherwise · from #${image.id}`,
    ),
  };
}
