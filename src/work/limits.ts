/**
 * A job's size, step, count and memory limits, as pure checks on its parameters and the image it starts
 * from. Two places apply them: the front-end's gate (`commands/limits.ts`), with the admin's limits,
 * before a job is queued; and every Redis worker, with its own host's memory budget and the highest
 * limits any setting allows, to each job it takes, because a job found in Redis need not have come
 * through the gate.
 */
import { ErrorCode, UserError } from '../errors.js';
import type {
  EditParams,
  GenerateParams,
  InpaintParams,
  OutpaintParams,
  UpscaleParams,
  VaryParams,
} from '../job-params.js';
import {
  estimateBringBackMB,
  estimateEditMB,
  estimatePeakMB,
  largestSize,
  maxArea,
} from '../pipeline/budget.js';
import { describeOutpaint } from '../pipeline/canvas.js';
import type { ModelSpec } from '../pipeline/model.js';
import {
  creativeUpscalePlan,
  fitsModel,
  type OutpaintPlan,
  outpaintPlan,
  repaintPlan,
  type Size,
  type WorkPlan,
} from '../pipeline/work-size.js';
import { DEFAULT_LIMITS as PARSER_LIMITS } from '../prompt/params.js';

/** What a job may ask for. */
export interface WorkLimits {
  readonly maxSteps: number;
  readonly maxN: number;
  readonly maxSide: number;
  /** Peak memory one job may plan for (MEMORY_BUDGET_MB). */
  readonly memoryBudgetMB: number;
  /** Largest side an upscale may produce (MAX_OUTPUT_SIDE). */
  readonly maxOutputSide: number;
}

/**
 * The most steps, images and pixels a side that any setting allows: the prompt parser's own limits,
 * which the admin settings cannot exceed either. Workers cannot read the admin's settings, so they hold
 * every job to these.
 */
export const LIMIT_CEILINGS = {
  maxSteps: PARSER_LIMITS.maxSteps,
  maxN: PARSER_LIMITS.maxN,
  maxSide: PARSER_LIMITS.maxSide,
} as const;

/** A worker's limits: the ceilings, and its own host's memory budget and upscale size. */
export function workerLimits(host: { memoryBudgetMB: number; maxOutputSide: number }): WorkLimits {
  return { ...LIMIT_CEILINGS, memoryBudgetMB: host.memoryBudgetMB, maxOutputSide: host.maxOutputSide };
}

/** An image job as its limits see it: the kind and its validated parameters. */
export type LimitedJob =
  | { readonly kind: 'generate'; readonly params: GenerateParams }
  | { readonly kind: 'variation'; readonly params: VaryParams }
  | { readonly kind: 'inpaint'; readonly params: InpaintParams }
  | { readonly kind: 'upscale'; readonly params: UpscaleParams }
  | { readonly kind: 'outpaint'; readonly params: OutpaintParams }
  | { readonly kind: 'edit'; readonly params: EditParams };

/** What the limits need to know about the image a job starts from. */
export interface StartImage {
  readonly width: number;
  readonly height: number;
  readonly model: string;
  /** Its guidance; unknown counts as guided (the larger estimate). */
  readonly guidance?: number | undefined;
}

/** Where the checks find model specs and the image a job starts from. */
export interface LimitSources {
  readonly models: { get(name: string): ModelSpec };
  /** The image `id`; throws a UserError when there is none. */
  readonly startImage: (id: string) => StartImage;
}

function range(name: string, max: number, value: number): UserError {
  return new UserError(
    ErrorCode.FlagValue,
    `Expected an integer 1–${max} for ${name} here but received ${value}.`,
    {
      flag: name,
      max,
    },
  );
}

/** An explicitly asked step count over the limit, refused (replies such as "150 steps"). */
export function checkSteps(steps: number, limits: Pick<WorkLimits, 'maxSteps'>): UserError | undefined {
  return steps > limits.maxSteps ? range('steps', limits.maxSteps, steps) : undefined;
}

/** Steps and image counts within the limits. */
function checkCounts(params: { steps?: number; n?: number }, limits: WorkLimits): UserError | undefined {
  if (params.steps !== undefined) {
    const refused = checkSteps(params.steps, limits);
    if (refused) return refused;
  }
  return params.n !== undefined && params.n > limits.maxN ? range('n', limits.maxN, params.n) : undefined;
}

/** Refuses a size beyond the model's area or the admin's side, naming the largest that fits. */
function checkSize(
  spec: ModelSpec,
  width: number,
  height: number,
  limits: WorkLimits,
): UserError | undefined {
  if (width > limits.maxSide || height > limits.maxSide) {
    return new UserError(
      ErrorCode.FlagValue,
      `Images here can be at most ${limits.maxSide} px a side; ${width}×${height} is larger.`,
    );
  }
  if (width * height > maxArea(spec)) {
    const fit = largestSize(spec, width, height);
    return new UserError(
      ErrorCode.OverBudget,
      `${spec.name} works well up to ${fit.width}×${fit.height} at this shape; ${width}×${height} is too large. Ask for --size ${fit.width}x${fit.height} or smaller, and upscale the result.`,
    );
  }
  return undefined;
}

/**
 * Whether an image can be repainted (img2img or inpainting): an image the model handles within its
 * area, the admin's side and the memory budget; a larger one (an upscale, an upload) within the output
 * limit, since the repaint works at the model's size and is brought back to the image's. Checked by the
 * gate, and before a repaint's mask is worked out.
 */
export function checkRepaint(
  spec: ModelSpec,
  image: { width: number; height: number },
  guidance: number | undefined,
  limits: WorkLimits,
  bringing: BringingBack = { n: 1, masked: true },
): UserError | undefined {
  const { width, height } = image;
  if (fitsModel(spec, image))
    return checkSize(spec, width, height, limits) ?? checkMemory(spec, width, height, guidance, limits);
  return (
    checkOutputSide(`Editing ${width}×${height}`, image, limits) ??
    checkPlanMemory(spec, repaintPlan(spec, image), guidance, limits, bringing)
  );
}

/** Refuses a result beyond the output limit (MAX_OUTPUT_SIDE); `what` opens the sentence. */
function checkOutputSide(what: string, result: Size, limits: WorkLimits): UserError | undefined {
  if (Math.max(result.width, result.height) <= limits.maxOutputSide) return undefined;
  return new UserError(
    ErrorCode.OverBudget,
    `${what} would make an image of ${result.width}×${result.height}; images here can be at most ${limits.maxOutputSide} px a side.`,
  );
}

/**
 * What bringing an edit back holds: `n` results, and for a region edit or outpainting (`masked`) the
 * mask the untouched pixels are blended back through. Unknown (before a reply is read) counts as masked.
 */
export interface BringingBack {
  readonly n: number;
  readonly masked: boolean;
}

/** The memory of an edit made at its work size and, when it is, brought back to its result's size. */
function checkPlanMemory(
  spec: ModelSpec,
  plan: WorkPlan,
  guidance: number | undefined,
  limits: WorkLimits,
  bringing: BringingBack,
): UserError | undefined {
  const { work, result } = plan;
  const painting = estimatePeakMB(spec, { ...work, batch: 1, guided: (guidance ?? 2) > 1 });
  const back = estimateBringBackMB(result.width, result.height, bringing.n, bringing.masked);
  const estimate = painting + (plan.broughtBack ? back : 0);
  if (estimate <= limits.memoryBudgetMB) return undefined;
  return new UserError(
    ErrorCode.OverBudget,
    `Editing this ${result.width}×${result.height} image with ${spec.name} needs about ${estimate} MB, more than this server's ${limits.memoryBudgetMB} MB budget.`,
  );
}

/**
 * Refuses an outpainting canvas the model cannot paint, or a result that grows past the admin's side.
 * The canvas the model paints is fitted to its area, but a long, thin image's short side cannot shrink
 * below one size multiple, so a chain of pans would otherwise grow past it. The result (at the image's
 * own resolution) may be as large as the image on a side, but grows past `max-side` no further: a zoom
 * out of a large upscale is fine, a pan that makes it longer than the admin allows is not. `how`
 * ("Zoomed out 2×") opens the refusal's sentence.
 */
function checkCanvas(
  spec: ModelSpec,
  image: Size,
  plan: OutpaintPlan,
  how: string,
  limits: WorkLimits,
): UserError | undefined {
  const done = (size: Size) => `${how}, this image would be ${size.width}×${size.height}`;
  const { result, workCanvas } = plan;
  const grows = (side: 'width' | 'height') => result[side] > limits.maxSide && result[side] > image[side];
  if (grows('width') || grows('height'))
    return new UserError(
      ErrorCode.FlagValue,
      `${done(result)}; images here can be at most ${limits.maxSide} px a side.`,
    );
  if (workCanvas.width * workCanvas.height > maxArea(spec))
    return new UserError(
      ErrorCode.OverBudget,
      `${done(workCanvas)}, more than ${spec.name} can paint (${maxArea(spec).toLocaleString('en-US')} pixels in all, at least ${spec.sizeMultiple} px a side). Start from a less narrow image.`,
    );
  return undefined;
}

/** An exact edit's pixels within the memory budget (a backdrop recolour works on several planes). */
function checkEdit(p: EditParams, parent: StartImage, limits: WorkLimits): UserError | undefined {
  const estimate = estimateEditMB(parent.width, parent.height, p.edit.op === 'recolour');
  if (estimate <= limits.memoryBudgetMB) return undefined;
  return new UserError(
    ErrorCode.OverBudget,
    `Editing this ${parent.width}×${parent.height} image needs about ${estimate} MB, more than this server's ${limits.memoryBudgetMB} MB budget.`,
  );
}

/** Refuses when not even one image of this size fits the memory budget. */
function checkMemory(
  spec: ModelSpec,
  width: number,
  height: number,
  guidance: number | undefined,
  limits: WorkLimits,
): UserError | undefined {
  const estimate = estimatePeakMB(spec, { width, height, batch: 1, guided: (guidance ?? 2) > 1 });
  if (estimate <= limits.memoryBudgetMB) return undefined;
  return new UserError(
    ErrorCode.OverBudget,
    `${width}×${height} with ${spec.name} needs about ${estimate} MB, more than this server's ${limits.memoryBudgetMB} MB budget. Try a smaller size.`,
  );
}

/**
 * An upscale's output side, and a creative upscale's refine like any edit of the model: at the upscaled
 * size when the model handles it, else at the model's size and brought back.
 */
function checkUpscale(
  p: UpscaleParams,
  parent: StartImage,
  models: LimitSources['models'],
  limits: WorkLimits,
): UserError | undefined {
  const [width, height] = [parent.width * p.scale, parent.height * p.scale];
  if (Math.max(width, height) > limits.maxOutputSide) {
    return new UserError(
      ErrorCode.OverBudget,
      `Upscales here go up to ${limits.maxOutputSide} px a side; ×${p.scale} of ${parent.width}×${parent.height} would be ${width}×${height}.`,
    );
  }
  if (!p.creative) return undefined;
  const spec = models.get(parent.model);
  const plan = creativeUpscalePlan(spec, parent, p.scale);
  return checkPlanMemory(spec, plan, parent.guidance, limits, { n: 1, masked: false });
}

/** Checks a job's steps, count, size, memory and output against the limits. */
export function checkJobLimits(
  job: LimitedJob,
  sources: LimitSources,
  limits: WorkLimits,
): UserError | undefined {
  const { models, startImage } = sources;
  switch (job.kind) {
    case 'generate': {
      const p = job.params;
      const spec = models.get(p.model);
      return (
        checkCounts(p, limits) ??
        checkSize(spec, p.width, p.height, limits) ??
        checkMemory(spec, p.width, p.height, p.guidance, limits)
      );
    }
    case 'variation':
    case 'inpaint': {
      const p = job.params;
      const parent = startImage(p.parentId);
      const bringing = { n: 'n' in p ? p.n : 1, masked: job.kind === 'inpaint' };
      return (
        checkCounts(p, limits) ?? checkRepaint(models.get(p.model), parent, p.guidance, limits, bringing)
      );
    }
    case 'outpaint': {
      // The canvas the job will paint passes the same gate as any size asked for.
      const p = job.params;
      const parent = startImage(p.parentId);
      const spec = models.get(p.model);
      const plan = outpaintPlan(spec, parent, p.outpaint);
      const described = describeOutpaint(p.outpaint);
      // "Zoomed out 2×" opens the refusals' sentences.
      const how = `${described[0]!.toUpperCase()}${described.slice(1)}`;
      return (
        checkCounts(p, limits) ??
        checkCanvas(spec, parent, plan, how, limits) ??
        checkOutputSide(how, plan.result, limits) ??
        checkPlanMemory(spec, plan, p.guidance, limits, { n: 1, masked: true })
      );
    }
    case 'upscale':
      return checkUpscale(job.params, startImage(job.params.parentId), models, limits);
    case 'edit':
      return checkEdit(job.params, startImage(job.params.parentId), limits);
  }
}
