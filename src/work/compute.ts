/**
 * Computing a work order: the image work of a job, with no store and no files. The in-process executor
 * and every Redis worker run this same function, so a job gives the same pixels on either path.
 */
import { ErrorCode, UserError } from '../errors.js';
import type { UpscaleParams } from '../job-params.js';
import { loraFacts } from '../lora/facts.js';
import type { LoraUse, ResolvedLora } from '../lora/library.js';
import { backgroundMask } from '../masks/background.js';
import { buildCanvas } from '../pipeline/canvas.js';
import { applyEdit, type ExactEdit } from '../pipeline/edits.js';
import { type RgbImage, readImage, readMask, resizeRgb } from '../pipeline/image.js';
import { resizeMask } from '../pipeline/masks.js';
import type { ModelSpec } from '../pipeline/model.js';
import type { Pipeline, PipelineResult, RunHooks } from '../pipeline/pipeline.js';
import { schedulerFor } from '../pipeline/recipe.js';
import {
  creativeUpscalePlan,
  type Grower,
  keepUntouched,
  outpaintPlan,
  repaintPlan,
  resizeTo,
  type Size,
} from '../pipeline/work-size.js';
import type { JobContext } from '../queue/queue.js';
import type { ModelRegistry } from './models.js';
import { parseParams, type WorkOrder, type WorkResult } from './order.js';

/** The strength of a creative upscale's img2img pass. */
const CREATIVE_STRENGTH = 0.25;

/** What computing needs: the pipeline and the models. */
export interface ComputeDeps {
  readonly pipeline: Pipeline;
  readonly models: ModelRegistry;
}

function hooksFor(context: JobContext, previewEvery: number): RunHooks {
  return {
    signal: context.signal,
    previewEvery,
    onProgress: (p) =>
      context.reportProgress({ step: p.step, total: p.total, ...(p.preview ? { preview: p.preview } : {}) }),
  };
}

async function inputImage(order: WorkOrder): Promise<RgbImage> {
  if (!order.image)
    throw new UserError(ErrorCode.ImageNotFound, `The image this ${order.kind} starts from is missing.`);
  const image = await readImage(Buffer.from(order.image));
  // The limits were checked on the size its record gives, so the image must be that size.
  if (order.parent && (image.width !== order.parent.width || image.height !== order.parent.height)) {
    throw new UserError(
      ErrorCode.ImageInvalid,
      `The image this ${order.kind} starts from is ${image.width}×${image.height}, not the ${order.parent.width}×${order.parent.height} its record says.`,
    );
  }
  return image;
}

function parentOf(order: WorkOrder) {
  if (!order.parent)
    throw new UserError(ErrorCode.ImageNotFound, `The image this ${order.kind} starts from is missing.`);
  return order.parent;
}

function fromPipeline(result: PipelineResult, extra?: Record<string, unknown>): WorkResult {
  if (extra && Object.keys(extra).length === 0) extra = undefined;
  return {
    images: result.images,
    seeds: result.seeds,
    steps: result.steps,
    guidance: result.guidance,
    scheduler: result.scheduler,
    ...(extra ? { extra } : {}),
  };
}

/** The job's LoRAs with this host's files (`{}` when it has none, so requests stay unchanged). */
function lorasFor(
  models: ModelRegistry,
  spec: ModelSpec,
  loras: readonly LoraUse[] | undefined,
): { loras?: ResolvedLora[] } {
  if (!loras || loras.length === 0) return {};
  return { loras: loras.map((use) => models.loras.resolve(use, spec.dir)) };
}

/** What the images record of their LoRAs (with A1111's hashes) and the merge's notes. */
function loraExtra(
  models: ModelRegistry,
  spec: ModelSpec,
  loras: readonly LoraUse[] | undefined,
  result: PipelineResult,
): Record<string, unknown> | undefined {
  const resolved = lorasFor(models, spec, loras).loras;
  if (!resolved) return undefined;
  return { loras: loraFacts(resolved), ...(result.notes ? { notes: result.notes.slice(0, 8) } : {}) };
}

/** Runs one work order and returns its images. Parameters are validated first. */
export async function computeWork(
  order: WorkOrder,
  deps: ComputeDeps,
  context: JobContext,
): Promise<WorkResult> {
  const hooks = hooksFor(context, order.previewEvery);
  const { pipeline, models } = deps;
  const grow = growerOf(deps, context.signal);
  switch (order.kind) {
    case 'generate': {
      const p = parseParams('generate', order.params);
      const spec = models.get(p.model);
      const result = await pipeline.generate(
        {
          model: spec,
          prompt: p.prompt,
          negativePrompt: p.negativePrompt,
          seed: p.seed,
          steps: p.steps,
          guidance: p.guidance,
          width: p.width,
          height: p.height,
          n: p.n,
          scheduler: schedulerFor(spec, p.scheduler),
          ...(p.jitter ? { jitter: p.jitter } : {}),
          ...(p.chaos !== undefined ? { chaos: p.chaos } : {}),
          ...(p.tile ? { tile: true } : {}),
          ...(p.draft ? { draft: true } : {}),
          ...lorasFor(models, spec, p.loras),
        },
        hooks,
      );
      return fromPipeline(result, {
        ...loraExtra(models, spec, p.loras, result),
        ...(result.denoiser ? { denoiser: result.denoiser } : {}),
      });
    }
    case 'variation': {
      const p = parseParams('variation', order.params);
      const spec = models.get(p.model);
      const image = await inputImage(order);
      const plan = repaintPlan(spec, image);
      const result = await pipeline.vary(
        {
          model: spec,
          image: plan.broughtBack ? await resizeRgb(image, plan.work.width, plan.work.height) : image,
          prompt: p.prompt,
          negativePrompt: p.negativePrompt,
          seed: p.seed,
          strength: p.strength,
          steps: p.steps,
          guidance: p.guidance,
          n: p.n,
          scheduler: schedulerFor(spec, p.scheduler),
          ...(p.tile ? { tile: true } : {}),
          ...lorasFor(models, spec, p.loras),
        },
        hooks,
      );
      // A whole-image edit changes every pixel: the result is the variation, grown to the image's size.
      // One at a time: each brought back holds its own full-size buffers.
      const images: RgbImage[] = [];
      for (const made of result.images) images.push(await resizeTo(made, plan.result, grow));
      return fromPipeline({ ...result, images }, loraExtra(models, spec, p.loras, result));
    }
    case 'inpaint': {
      const p = parseParams('inpaint', order.params);
      if (!order.mask) throw new UserError(ErrorCode.ImageNotFound, `The mask ${p.maskId} no longer exists.`);
      const image = await inputImage(order);
      const mask = await readMask(Buffer.from(order.mask), image);
      const plan = repaintPlan(models.get(p.model), image);
      if (!plan.broughtBack) return paint(deps, p, { image, mask }, hooks);
      const { width, height } = plan.work;
      const small = {
        image: await resizeRgb(image, width, height),
        mask: await resizeMask(mask, image.width, image.height, width, height),
      };
      const painted = await paint(deps, p, small, hooks);
      return keepingUntouched(painted, { image, mask }, plan.result, grow);
    }
    case 'outpaint': {
      const p = parseParams('outpaint', order.params);
      const plan = outpaintPlan(models.get(p.model), parentOf(order), p.outpaint);
      const image = await inputImage(order);
      const built = await buildCanvas(image, plan.workCanvas);
      const canvas = plan.fullCanvas ?? plan.workCanvas;
      const extra = { outpaint: p.outpaint, place: canvas.place };
      const painted = await paint(deps, p, built, hooks, extra);
      if (!plan.fullCanvas) return painted;
      // The image's own pixels go back in at full resolution; only the new area is the model's.
      return keepingUntouched(painted, await buildCanvas(image, plan.fullCanvas), plan.result, grow);
    }
    case 'upscale': {
      const p = parseParams('upscale', order.params);
      const parent = parentOf(order);
      const upscaler = models.upscaler();
      if (p.creative) {
        const plan = creativeUpscalePlan(models.get(parent.model), parent, p.scale);
        if (plan.broughtBack) return creativeAtWorkSize(deps, order, plan, grow, hooks);
      }
      const result = await pipeline.upscale(
        {
          image: await inputImage(order),
          scale: p.scale,
          ...(upscaler ? { upscaler } : {}),
          ...(p.creative ? { refine: creativeRefine(models, order, p) } : {}),
        },
        hooks,
      );
      return fromPipeline(result, {
        scale: p.scale,
        creative: p.creative,
        ...(p.creative ? loraExtra(models, models.get(parent.model), p.loras, result) : {}),
      });
    }
    case 'edit': {
      const p = parseParams('edit', order.params);
      return editExactly(await inputImage(order), p.edit);
    }
  }
}

/** An exact edit: no model and no steps, only sharp on the parent's pixels. */
async function editExactly(image: RgbImage, edit: ExactEdit): Promise<WorkResult> {
  let backdrop: Float32Array | undefined;
  if (edit.op === 'recolour') {
    // Found again from the pixels (the command found a plain backdrop in the same ones), so no mask has
    // to be stored or sent.
    const found = await backgroundMask(image);
    if (found.method !== 'backdrop')
      throw new UserError(ErrorCode.ImageInvalid, 'This image has no plain backdrop to recolour.');
    backdrop = found.mask;
  }
  return {
    images: [await applyEdit(image, edit, backdrop)],
    seeds: [],
    steps: 0,
    guidance: 0,
    scheduler: `exact:${edit.op}`,
    extra: { edit },
  };
}

/** Repaints the mask of an image with the job's prompt (inpainting and outpainting). */
async function paint(
  deps: ComputeDeps,
  p: {
    model: string;
    prompt: string;
    negativePrompt: string;
    seed: number;
    steps: number;
    guidance: number;
    loras?: readonly LoraUse[] | undefined;
  },
  painted: { image: RgbImage; mask: Float32Array },
  hooks: RunHooks,
  extra?: Record<string, unknown>,
): Promise<WorkResult> {
  const spec = deps.models.get(p.model);
  const result = await deps.pipeline.inpaint(
    {
      model: spec,
      ...lorasFor(deps.models, spec, p.loras),
      ...painted,
      prompt: p.prompt,
      negativePrompt: p.negativePrompt,
      seed: p.seed,
      steps: p.steps,
      guidance: p.guidance,
      n: 1,
    },
    hooks,
  );
  return fromPipeline(result, { ...extra, ...loraExtra(deps.models, spec, p.loras, result) });
}

/** The super-resolution model as bringing back uses it, or undefined for Lanczos alone. */
function growerOf(deps: ComputeDeps, signal: AbortSignal): Grower | undefined {
  const upscaler = deps.models.upscaler();
  if (!upscaler) return undefined;
  const scale = Math.min(4, upscaler.scale) as 2 | 3 | 4;
  return {
    scale,
    grow: async (image) => (await deps.pipeline.upscale({ image, scale, upscaler }, { signal })).images[0]!,
  };
}

/**
 * A repaint made at the work size, brought back to `size` over the original: outside the mask the
 * original's own pixels, inside it the repaint grown to the original's resolution.
 */
async function keepingUntouched(
  painted: WorkResult,
  original: { image: RgbImage; mask: Float32Array },
  size: Size,
  grow: Grower | undefined,
): Promise<WorkResult> {
  const grown = await resizeTo(painted.images[0]!, size, grow);
  return { ...painted, images: [await keepUntouched(original.image, grown, original.mask)] };
}

/**
 * A creative upscale too large for the model to refine: the image is brought to the largest size of its
 * shape the model handles, refined there with the same light img2img pass, and grown to the upscaled size.
 */
async function creativeAtWorkSize(
  deps: ComputeDeps,
  order: WorkOrder,
  plan: { work: Size; result: Size },
  grow: Grower | undefined,
  hooks: RunHooks,
): Promise<WorkResult> {
  const p = parseParams('upscale', order.params);
  const refine = creativeRefine(deps.models, order, p);
  const start = await resizeTo(await inputImage(order), plan.work, grow);
  const refined = await deps.pipeline.vary({ ...refine, image: start, n: 1 }, hooks);
  const upscaler = deps.models.upscaler();
  return {
    images: [await resizeTo(refined.images[0]!, plan.result, grow)],
    seeds: [],
    steps: refined.steps,
    guidance: refined.guidance,
    scheduler: `${upscaler ? `sr:${upscaler.name}` : 'lanczos'}+${refined.scheduler}`,
    extra: {
      scale: p.scale,
      creative: true,
      ...loraExtra(deps.models, refine.model, p.loras, refined),
    },
  };
}

/** A creative upscale's light img2img pass: the parent's model, prompt and LoRAs, the job's seed. */
function creativeRefine(models: ModelRegistry, order: WorkOrder, p: UpscaleParams) {
  const parent = parentOf(order);
  const model = models.get(parent.model);
  return {
    model,
    ...lorasFor(models, model, p.loras),
    prompt: parent.prompt,
    negativePrompt: parent.negativePrompt,
    seed: p.seed,
    strength: CREATIVE_STRENGTH,
  };
}
