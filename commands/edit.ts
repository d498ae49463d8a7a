/**
 * Exact edits ("darker", "mirror", "crop to 16:9", a plain backdrop colour): sharp on the stored pixels,
 * with no diffusion. They are queued as jobs like any other image work, so they count against the hourly
 * limit and the per-person cap, pass the memory budget, and can be cancelled; being quick, they go ahead
 * of diffusion jobs. The result is stored with operation `edit` and its parent, so it has a lineage,
 * buttons and undo like any other image.
 */
import { describeEdit, type ExactEdit } from '../src/pipeline/edits.js';
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue } from './context.js';
import type { ChatContext, Reply } from './types.js';

/** Queues an exact edit of an image. */
export function exactEdit(deps: CommandDeps, ctx: ChatContext, image: ImageRecord, edit: ExactEdit): Reply {
  return enqueue(deps, ctx, {
    kind: 'edit',
    params: {
      parentId: image.id,
      edit,
      explanation: `Edited exactly: ${describeEdit(edit)} · no diffusion, the same pixels otherwise · from #${image.id}`,
    },
  });
}
