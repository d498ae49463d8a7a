/**
 * The result line of an edit on an image larger than its model paints says, in words, where the work
 * happened: "worked at 168×88 and brought back to 352×192". Added to every such job's explanation in
 * one place ({@link withWorkNote}, called by `enqueue`), never as flags the person did not type.
 */
import {
  creativeUpscalePlan,
  describePlan,
  outpaintPlan,
  repaintPlan,
  type WorkPlan,
} from '../src/pipeline/work-size.js';
import { type CommandDeps, type JobRequest, requireImage } from './deps.js';

/** The plan of a job that repaints an image, or undefined for the others (text to image, plain upscales, exact edits). */
function planOf(deps: CommandDeps, request: JobRequest): WorkPlan | undefined {
  switch (request.kind) {
    case 'variation':
    case 'inpaint':
      return repaintPlan(deps.models.get(request.params.model), requireImage(deps, request.params.parentId));
    case 'outpaint': {
      const parent = requireImage(deps, request.params.parentId);
      return outpaintPlan(deps.models.get(request.params.model), parent, request.params.outpaint);
    }
    case 'upscale': {
      if (!request.params.creative) return undefined;
      const parent = requireImage(deps, request.params.parentId);
      return creativeUpscalePlan(deps.models.get(parent.model), parent, request.params.scale);
    }
    default:
      return undefined;
  }
}

/** The request with its explanation saying where the work happens, when it is brought back to a larger size. */
export function withWorkNote(deps: CommandDeps, request: JobRequest): JobRequest {
  const plan = planOf(deps, request);
  const note = plan ? describePlan(plan) : undefined;
  if (!note) return request;
  return {
    ...request,
    params: { ...request.params, explanation: `${request.params.explanation} · ${note}` },
  } as JobRequest;
}
