/**
 * The one place where a job's limits are decided and enforced. Sane defaults, overridden by the admin
 * settings, and each model's memory budget; every path that queues a job (imagine, replies, buttons,
 * reactions, the mask editor) goes through {@link checkJob} from `enqueue`, and personal defaults are
 * capped by {@link capDefaults} before they become parameters.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import { DEFAULT_LIMITS as PARSER_LIMITS } from '../src/prompt/params.js';
import type { ImageRecord } from '../src/store/store.js';
import { checkJobLimits, checkRepaint as checkRepaintLimits, type WorkLimits } from '../src/work/limits.js';
import { type CommandDeps, type JobRequest, requireImage } from './deps.js';
import { checkLoras } from './loras.js';
import { modelAccessRefusal } from './model-access.js';
import { dailyQuotaRefusal } from './quota.js';
import { adminSettings, type Defaults } from './settings-model.js';
import type { ChatContext } from './types.js';

/** Replies refuse an explicitly asked step count with the same check the gate applies. */
export { checkSteps } from '../src/work/limits.js';

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

/** What a job may ask for here: the size, step and memory limits, and the chat-side ones. */
export interface Limits extends WorkLimits {
  /** Jobs per hour for this person; undefined for admins, who are exempt. */
  readonly jobsPerHour: number | undefined;
  readonly maxUploadMB: number;
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

/** Checks a job's steps, size, memory and output against the limits; the gate every queued job passes. */
export function checkJob(deps: CommandDeps, request: JobRequest, limits: Limits): UserError | undefined {
  return (
    checkJobLimits(request, { models: deps.models, startImage: (id) => requireImage(deps, id) }, limits) ??
    checkLoras(deps, request)
  );
}

/**
 * Whether an image can be repainted (img2img or inpainting): one the model paints within its area and
 * the memory budget, a larger one (an upscale) within the output limit and the budget of working at the
 * model's size and bringing the result back. Checked by the gate, and before a repaint's mask is worked out.
 */
export function checkRepaint(
  deps: CommandDeps,
  image: ImageRecord,
  limits: Limits,
  recipe: { model: string; guidance: number } = image,
): UserError | undefined {
  return checkRepaintLimits(deps.models.get(recipe.model), image, recipe.guidance, limits);
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

const HOUR_MS = 3_600_000;

/**
 * Refuses `jobs` more jobs (one, or a permutation's and `--repeat`'s several) over the hourly limit,
 * saying when there is room again (as the person's oldest jobs of the hour age out).
 */
export function checkHourly(deps: CommandDeps, ctx: ChatContext, jobs = 1): UserError | undefined {
  const { jobsPerHour } = limitsFor(deps, ctx);
  if (jobsPerHour === undefined) return undefined;
  const now = (deps.now ?? Date.now)();
  const recent = deps.store.countJobsSince(ctx.userId, now - HOUR_MS);
  if (recent + jobs <= jobsPerHour) return undefined;
  const details = { limit: jobsPerHour };
  if (jobs > jobsPerHour) {
    return new UserError(
      ErrorCode.RateLimited,
      `That makes ${jobs} jobs, more than the limit of ${jobsPerHour} images per hour here.`,
      details,
    );
  }
  // Room again once all but jobsPerHour − jobs of the hour's jobs are older than an hour.
  const freeing = deps.store.nthJobTimeSince(ctx.userId, now - HOUR_MS, recent + jobs - jobsPerHour) ?? now;
  const minutes = Math.max(1, Math.ceil((freeing + HOUR_MS - now) / 60_000));
  const when = `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const left = Math.max(0, jobsPerHour - recent);
  return new UserError(
    ErrorCode.RateLimited,
    jobs === 1
      ? `You've reached the limit of ${jobsPerHour} images per hour here. The next one opens up ${when}.`
      : `That makes ${jobs} jobs, but only ${left} of the ${jobsPerHour} images per hour ${left === 1 ? 'is' : 'are'} left here. Room for ${jobs} opens up ${when}.`,
    { ...details, retryInMinutes: minutes },
  );
}
