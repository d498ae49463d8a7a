/**
 * The one place where a job's limits are decided and enforced. Sane defaults, overridden by the admin
 * settings, and each model's memory budget; every path that queues a job (imagine, replies, buttons,
 * reactions, the mask editor) goes through {@link checkJob} from `enqueue`, and personal defaults are
 * capped by {@link capDefaults} before they become parameters.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import { estimateEditMB, estimatePeakMB, largestSize, maxArea } from '../src/pipeline/budget.js';
import { canvasFor, describeOutpaint } from '../src/pipeline/canvas.js';
import type { ModelSpec } from '../src/pipeline/model.js';
import { DEFAULT_LIMITS as PARSER_LIMITS } from '../src/prompt/params.js';
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, checkHourly, type JobRequest, requireImage } from './context.js';
import { modelAccessRefusal } from './model-access.js';
import { dailyQuotaRefusal } from './quota.js';
import { adminSettings, type Defaults } from './settings-model.js';
import type { ChatContext } from './types.js';

/** Limits when no admin has set them. */
export const DEFAULT_LIMITS = {
  maxSteps: 50,
  maxN: 4,
  maxSide: 2048,
  jobsPerHour: 30,
  maxUploadMB: 10,
  memoryBudgetMB: Number.POSITIVE_INFINITY,
  maxOutputSide: 4096,
  maxPermutations: 8,
} as const;

/** What a job may ask for here. */
export interface Limits {
  readonly maxSteps: number;
  readonly maxN: number;
  readonly maxSide: number;
  /** Jobs per hour for this person; undefined for admins, who are exempt. */
  readonly jobsPerHour: number | undefined;
  readonly maxUploadMB: number;
  readonly memoryBudgetMB: number;
  readonly maxOutputSide: number;
  /** Jobs one permutation prompt or `--repeat` may make at once. */
  readonly maxPermutations: number;
}

/** The effective limits for a person: defaults ← admin settings (← host settings for memory). */
export function limitsFor(deps: CommandDeps, ctx?: ChatContext): Limits {
  const admin = adminSettings(deps.store);
  return {
    maxSteps: admin.maxSteps ?? DEFAULT_LIMITS.maxSteps,
    maxN: admin.maxN ?? DEFAULT_LIMITS.maxN,
    maxSide: admin.maxSide ?? DEFAULT_LIMITS.maxSide,
    jobsPerHour: ctx?.isAdmin ? undefined : (admin.jobsPerHour ?? DEFAULT_LIMITS.jobsPerHour),
    maxUploadMB: admin.maxUploadMB ?? DEFAULT_LIMITS.maxUploadMB,
    memoryBudgetMB: deps.host?.memoryBudgetMB ?? DEFAULT_LIMITS.memoryBudgetMB,
    maxOutputSide: deps.host?.maxOutputSide ?? DEFAULT_LIMITS.maxOutputSide,
    maxPermutations: admin.maxPermutations ?? DEFAULT_LIMITS.maxPermutations,
  };
}

/** Personal or channel defaults within the limits (a default set before an admin lowered one). */
export function capDefaults(defaults: Defaults, limits: Limits): Defaults {
  return {
    ...defaults,
    ...(defaults.steps !== undefined ? { steps: Math.min(defaults.steps, limits.maxSteps) } : {}),
    ...(defaults.n !== undefined ? { n: Math.min(defaults.n, limits.maxN) } : {}),
  };
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

/** Refuses a size beyond the model's area or the admin's side, naming the largest that fits. */
function checkSize(spec: ModelSpec, width: number, height: number, limits: Limits): UserError | undefined {
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
 * Refuses an outpainting canvas beyond the admin's side or the model's area. Canvases are fitted to the
 * area, but a long, thin image's short side cannot shrink below one size multiple, so a chain of pans
 * would otherwise grow past both.
 */
function checkCanvas(
  spec: ModelSpec,
  canvas: { width: number; height: number },
  how: string,
  limits: Limits,
): UserError | undefined {
  const { width, height } = canvas;
  const done = `${how[0]!.toUpperCase()}${how.slice(1)}, this image would be ${width}×${height}`;
  if (width > limits.maxSide || height > limits.maxSide)
    return new UserError(
      ErrorCode.FlagValue,
      `${done}; images here can be at most ${limits.maxSide} px a side.`,
    );
  if (width * height > maxArea(spec))
    return new UserError(
      ErrorCode.OverBudget,
      `${done}, more than ${spec.name} can paint (${maxArea(spec).toLocaleString('en-US')} pixels in all, at least ${spec.sizeMultiple} px a side). Start from a less narrow image.`,
    );
  return undefined;
}

/** Refuses when not even one image of this size fits the memory budget. */
function checkMemory(
  spec: ModelSpec,
  width: number,
  height: number,
  guidance: number,
  limits: Limits,
): UserError | undefined {
  const estimate = estimatePeakMB(spec, { width, height, batch: 1, guided: guidance > 1 });
  if (estimate <= limits.memoryBudgetMB) return undefined;
  return new UserError(
    ErrorCode.OverBudget,
    `${width}×${height} with ${spec.name} needs about ${estimate} MB, more than this server's ${limits.memoryBudgetMB} MB budget. Try a smaller size.`,
  );
}

/**
 * Steps and image counts within the limits. What a person asks for explicitly (a flag, "150 steps", a
 * setting) is refused with a message before it gets here; what a job inherits (an image's steps, a
 * button's four variations, a default set before a limit was lowered) is brought within them.
 */
export function fitJob(request: JobRequest, limits: Limits): JobRequest {
  const p = request.params as { steps?: number; n?: number };
  const fitted = {
    ...request.params,
    ...(p.steps !== undefined ? { steps: Math.min(p.steps, limits.maxSteps) } : {}),
    ...(p.n !== undefined ? { n: Math.min(p.n, limits.maxN) } : {}),
  };
  return { ...request, params: fitted } as JobRequest;
}

/** An explicitly asked step count over the limit, refused (replies such as "150 steps"). */
export function checkSteps(steps: number, limits: Limits): UserError | undefined {
  return steps > limits.maxSteps ? range('steps', limits.maxSteps, steps) : undefined;
}

/** The longest text that may become a prompt or a negative prompt: the limit `imagine`'s parser applies. */
export const MAX_PROMPT_LENGTH = PARSER_LIMITS.maxPromptLength;

const count = (n: number) => n.toLocaleString('en-US');

/**
 * A reply longer than any prompt may be, refused before it is read: whatever it asks for, its words
 * would become (part of) a prompt over the limit.
 */
export function checkReplyLength(text: string): UserError | undefined {
  if (text.length <= MAX_PROMPT_LENGTH) return undefined;
  return new UserError(
    ErrorCode.PromptInvalid,
    `That reply is ${count(text.length)} characters long; prompts can be at most ${count(MAX_PROMPT_LENGTH)}. Please say it more briefly.`,
    { max: MAX_PROMPT_LENGTH },
  );
}

/**
 * The prompt and negative prompt a job would run with, within the prompt limit. Replies that add to a
 * prompt ("add a moon", "less busy") grow it, so this is checked on what the job would run with, before
 * anything else (and before the job is counted against the hour).
 */
export function checkPromptLength(request: JobRequest): UserError | undefined {
  const texts = request.params as { prompt?: string; negativePrompt?: string };
  for (const [what, text] of [
    ['prompt', texts.prompt],
    ['negative prompt', texts.negativePrompt],
  ] as const) {
    if (text !== undefined && text.length > MAX_PROMPT_LENGTH) {
      return new UserError(
        ErrorCode.PromptInvalid,
        `That would make the ${what} ${count(text.length)} characters long; it can be at most ${count(MAX_PROMPT_LENGTH)}. Start again with a shorter prompt.`,
        { max: MAX_PROMPT_LENGTH },
      );
    }
  }
  return undefined;
}

/**
 * Whether an image can be repainted (img2img or inpainting) at its size: within the model's area and the
 * memory budget. Checked by the gate, and before a repaint's mask is worked out.
 */
export function checkRepaint(
  deps: CommandDeps,
  image: ImageRecord,
  limits: Limits,
  recipe: { model: string; guidance: number } = image,
): UserError | undefined {
  const spec = deps.models.get(recipe.model);
  const { width, height } = image;
  return checkSize(spec, width, height, limits) ?? checkMemory(spec, width, height, recipe.guidance, limits);
}

/** Checks a job's size, memory and output against the limits; the gate every queued job passes. */
export function checkJob(deps: CommandDeps, request: JobRequest, limits: Limits): UserError | undefined {
  switch (request.kind) {
    case 'generate': {
      const p = request.params;
      const spec = deps.models.get(p.model);
      return (
        checkSize(spec, p.width, p.height, limits) ?? checkMemory(spec, p.width, p.height, p.guidance, limits)
      );
    }
    case 'variation':
    case 'inpaint': {
      const p = request.params;
      const parent = requireImage(deps, p.parentId);
      return checkRepaint(deps, parent, limits, p);
    }
    case 'edit': {
      const p = request.params;
      const parent = requireImage(deps, p.parentId);
      const estimate = estimateEditMB(parent.width, parent.height, p.edit.op === 'recolour');
      if (estimate <= limits.memoryBudgetMB) return undefined;
      return new UserError(
        ErrorCode.OverBudget,
        `Editing this ${parent.width}×${parent.height} image needs about ${estimate} MB, more than this server's ${limits.memoryBudgetMB} MB budget.`,
      );
    }
    case 'outpaint': {
      // The canvas the job will paint passes the same gate as any size asked for.
      const p = request.params;
      const parent = requireImage(deps, p.parentId);
      const spec = deps.models.get(p.model);
      const canvas = canvasFor(parent.width, parent.height, p.outpaint, maxArea(spec), spec.sizeMultiple);
      return (
        checkCanvas(spec, canvas, describeOutpaint(p.outpaint), limits) ??
        checkMemory(spec, canvas.width, canvas.height, p.guidance, limits)
      );
    }
    case 'upscale': {
      const p = request.params;
      const parent = requireImage(deps, p.parentId);
      const [width, height] = [parent.width * p.scale, parent.height * p.scale];
      if (Math.max(width, height) > limits.maxOutputSide) {
        return new UserError(
          ErrorCode.OverBudget,
          `Upscales here go up to ${limits.maxOutputSide} px a side; ×${p.scale} of ${parent.width}×${parent.height} would be ${width}×${height}.`,
        );
      }
      if (!p.creative) return undefined;
      // The creative refine is img2img at the upscaled size: it must fit the model like any image.
      const spec = deps.models.get(parent.model);
      if (width * height > maxArea(spec)) {
        const fit = largestSize(spec, width, height);
        return new UserError(
          ErrorCode.OverBudget,
          `Upscale (Creative) with ${spec.name} goes up to ${fit.width}×${fit.height}; ×${p.scale} of this image is ${width}×${height}. Use a plain upscale instead.`,
        );
      }
      return checkMemory(spec, width, height, parent.guidance, limits);
    }
  }
}

/** The diffusion model a job runs, if any (a plain upscale runs only the upscaler, an exact edit none). */
function modelOf(deps: CommandDeps, request: JobRequest): string | undefined {
  switch (request.kind) {
    case 'upscale':
      return request.params.creative ? requireImage(deps, request.params.parentId).model : undefined;
    case 'edit':
      return undefined;
    default:
      return request.params.model;
  }
}

/** Refuses a job on a model this person may not use (`settings admin model … roles|admins`). */
export function checkModelAccess(
  deps: CommandDeps,
  ctx: ChatContext,
  request: JobRequest,
): UserError | undefined {
  const model = modelOf(deps, request);
  return model === undefined ? undefined : modelAccessRefusal(deps, ctx, model);
}

/**
 * Refuses `jobs` more jobs when they would go over the person's daily quota, or (for a request of
 * several jobs) the hourly limit; each refusal names the limit and when it opens again. Cheap: run it
 * before decoding anything a request brings (uploads).
 */
export function checkQuota(deps: CommandDeps, ctx: ChatContext, jobs: number): UserError | undefined {
  // One job over the hourly limit is refused by checkAllowed already.
  return dailyQuotaRefusal(deps, ctx, jobs) ?? (jobs > 1 ? checkHourly(deps, ctx, jobs) : undefined);
}

/** The part of the gate that depends on who asks: model permissions and quotas, for a whole request. */
export function checkPerson(
  deps: CommandDeps,
  ctx: ChatContext,
  requests: readonly JobRequest[],
): UserError | undefined {
  for (const request of requests) {
    const refused = checkModelAccess(deps, ctx, request);
    if (refused) return refused;
  }
  return checkQuota(deps, ctx, requests.length);
}
