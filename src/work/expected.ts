/**
 * What a job's result must hold: how many images, and of what size, as its order determines them (the
 * same rounding and canvases the pipeline uses). The front-end checks what a Redis worker returns
 * against it before anything is stored, so a worker cannot record 3000×3000 for a 64×64 job, or sixteen
 * images for one.
 */
import { ErrorCode, FlowbotError, UserError } from '../errors.js';
import { editedSize } from '../pipeline/edits.js';
import type { ModelSpec } from '../pipeline/model.js';
import { roundedSize } from '../pipeline/recipe.js';
import { creativeUpscalePlan, outpaintPlan, repaintPlan } from '../pipeline/work-size.js';
import { type ParentInfo, parseParams, type WorkOrder } from './order.js';

/** The images a job makes. */
export interface ResultShape {
  readonly count: number;
  readonly width: number;
  readonly height: number;
}

/** Where model specs come from. */
export interface ModelSource {
  get(name: string): ModelSpec;
}

function parentOf(order: WorkOrder): ParentInfo {
  if (!order.parent)
    throw new UserError(ErrorCode.ImageNotFound, `The image this ${order.kind} starts from is missing.`);
  return order.parent;
}

/** The images `order` makes. */
export function expectedShape(order: WorkOrder, models: ModelSource): ResultShape {
  switch (order.kind) {
    case 'generate': {
      const p = parseParams('generate', order.params);
      return { count: p.n, ...roundedSize(models.get(p.model), p.width, p.height) };
    }
    case 'variation': {
      const p = parseParams('variation', order.params);
      return { count: p.n, ...repaintPlan(models.get(p.model), parentOf(order)).result };
    }
    case 'inpaint': {
      const p = parseParams('inpaint', order.params);
      return { count: 1, ...repaintPlan(models.get(p.model), parentOf(order)).result };
    }
    case 'outpaint': {
      const p = parseParams('outpaint', order.params);
      return { count: 1, ...outpaintPlan(models.get(p.model), parentOf(order), p.outpaint).result };
    }
    case 'upscale': {
      const p = parseParams('upscale', order.params);
      const parent = parentOf(order);
      // The creative refine is an img2img pass: its plan gives the size (the model's rounding, or exact).
      return p.creative
        ? { count: 1, ...creativeUpscalePlan(models.get(parent.model), parent, p.scale).result }
        : { count: 1, width: parent.width * p.scale, height: parent.height * p.scale };
    }
    case 'edit': {
      const p = parseParams('edit', order.params);
      const parent = parentOf(order);
      return { count: 1, ...editedSize(parent.width, parent.height, p.edit) };
    }
  }
}

function mismatch(what: string, shape: ResultShape): FlowbotError {
  return new FlowbotError(
    ErrorCode.Internal,
    `an image worker returned ${what} for a job that makes ${shape.count} of ${shape.width}×${shape.height}; nothing was stored`,
  );
}

/** Refuses a result with another number of images than the job makes (before any is downloaded). */
export function checkResultCount(shape: ResultShape, count: number): void {
  if (count !== shape.count) throw mismatch(`${count} image(s)`, shape);
}

/** Refuses a result image of another size than the job makes. */
export function checkResultImage(shape: ResultShape, image: { width: number; height: number }): void {
  if (image.width !== shape.width || image.height !== shape.height)
    throw mismatch(`an image of ${image.width}×${image.height}`, shape);
}
