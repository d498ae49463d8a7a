/**
 * The image job kinds the queue runs: generate, variation, inpaint and upscale. Each reads its
 * parameters from the stored job, runs the pipeline, writes PNGs atomically and records the images
 * with their lineage before the job is marked succeeded, so a result is never lost.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, UserError } from './errors.js';
import type {
  GenerateParams,
  InpaintParams,
  OutpaintParams,
  UpscaleParams,
  VaryParams,
} from './job-params.js';
import { createLogger } from './log.js';
import { maxArea } from './pipeline/budget.js';
import { buildCanvas, canvasFor } from './pipeline/canvas.js';
import { composeGrid, encodePng, type RgbImage, readImage, readMask } from './pipeline/image.js';
import { loadModelSpec, loadUpscalerSpec, type ModelSpec, type UpscalerSpec } from './pipeline/model.js';
import type { Pipeline, PipelineResult, RunHooks } from './pipeline/pipeline.js';
import { pngText, schedulerFor } from './pipeline/request.js';
import type { JobContext, JobQueue } from './queue/queue.js';
import type { FileStore } from './store/files.js';
import type { ImageOperation, ImageRecord, JobRecord, Store } from './store/store.js';

const log = createLogger('jobs');

export type {
  GenerateParams,
  InpaintParams,
  OutpaintParams,
  UpscaleParams,
  VaryParams,
} from './job-params.js';

/** What every image job returns: the images made, and the grid when there are several. */
export interface ImageJobResult {
  readonly imageIds: string[];
  readonly gridId: string | null;
}

/** What the job kinds need. */
export interface ImageJobDeps {
  readonly store: Store;
  readonly files: FileStore;
  readonly pipeline: Pipeline;
  readonly modelsDir: string;
  readonly upscaler: string;
  /** Emit a preview every this many steps (0 = none). */
  readonly previewEvery?: number;
}

/** Resolves model folders by name, caching their specs. */
export class ModelRegistry {
  private readonly cache = new Map<string, ModelSpec>();
  private upscalerSpec: UpscalerSpec | null | undefined;

  constructor(
    private readonly modelsDir: string,
    private readonly upscalerName: string,
  ) {}

  /** The model folder `name`; a friendly error when there is none. */
  get(name: string): ModelSpec {
    let spec = this.cache.get(name);
    if (!spec) {
      try {
        spec = loadModelSpec(path.join(this.modelsDir, name));
      } catch (error) {
        throw new UserError(
          ErrorCode.ModelInvalid,
          `The model "${name}" is not available (${(error as Error).message}).`,
        );
      }
      this.cache.set(name, spec);
    }
    return spec;
  }

  /** Names of the model folders that load (for --model checks and autocomplete). */
  list(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.modelsDir, { withFileTypes: true })
        .filter(
          (entry) =>
            entry.isDirectory() &&
            ['model.json', 'model_index.json'].some((f) =>
              existsSync(path.join(this.modelsDir, entry.name, f)),
            ),
        )
        .map((entry) => entry.name);
    } catch {
      names = [];
    }
    return names.sort();
  }

  /** The super-resolution model, or null for the Lanczos fallback. */
  upscaler(): UpscalerSpec | null {
    if (this.upscalerSpec === undefined) {
      try {
        this.upscalerSpec = loadUpscalerSpec(path.join(this.modelsDir, this.upscalerName));
      } catch {
        log.info('no super-resolution model; upscales use Lanczos', {
          folder: path.join(this.modelsDir, this.upscalerName),
        });
        this.upscalerSpec = null;
      }
    }
    return this.upscalerSpec;
  }
}

function hooksFor(context: JobContext, previewEvery: number): RunHooks {
  return {
    signal: context.signal,
    previewEvery,
    onProgress: (p) =>
      context.reportProgress({ step: p.step, total: p.total, ...(p.preview ? { preview: p.preview } : {}) }),
  };
}

/** Encodes an image as PNG with its recipe, stores the file and records it with its lineage. */
export async function saveImage(
  deps: Pick<ImageJobDeps, 'files' | 'store'>,
  image: RgbImage,
  record: {
    operation: ImageOperation;
    prompt: string;
    negativePrompt: string;
    seed: number;
    steps: number;
    guidance: number;
    scheduler: string;
    model: string;
    strength?: number | null;
    parentId?: string | null;
    maskId?: string | null;
    userId: string;
    jobId?: string | null;
    cell: number | null;
    extra?: unknown;
  },
): Promise<ImageRecord> {
  const png = await encodePng(
    image,
    pngText({ ...record, width: image.width, height: image.height, parent: record.parentId ?? null }),
  );
  const file = await deps.files.save('images', png);
  return deps.store.insertImage({
    ...record,
    width: image.width,
    height: image.height,
    filePath: file.relativePath,
    sha256: file.sha256,
  });
}

/** Stores a job's images (and a grid when there are several) in one go. */
async function storeResults(
  deps: ImageJobDeps,
  job: JobRecord,
  result: PipelineResult,
  base: {
    operation: ImageOperation;
    prompt: string;
    negativePrompt: string;
    model: string;
    strength?: number | null;
    parentId?: string | null;
    maskId?: string | null;
    extra?: unknown;
  },
): Promise<ImageJobResult> {
  const cells: ImageRecord[] = [];
  for (let i = 0; i < result.images.length; i++) {
    cells.push(
      await saveImage(deps, result.images[i]!, {
        ...base,
        seed: result.seeds[i] ?? 0,
        steps: result.steps,
        guidance: result.guidance,
        scheduler: result.scheduler,
        userId: job.userId,
        jobId: job.id,
        cell: result.images.length > 1 ? i : null,
      }),
    );
  }
  let gridId: string | null = null;
  if (cells.length > 1) {
    const grid = await saveImage(deps, await composeGrid(result.images), {
      ...base,
      operation: 'grid',
      seed: result.seeds[0] ?? 0,
      steps: result.steps,
      guidance: result.guidance,
      scheduler: result.scheduler,
      userId: job.userId,
      jobId: job.id,
      cell: null,
      extra: { cells: cells.map((c) => c.id) },
    });
    gridId = grid.id;
  }
  return { imageIds: cells.map((c) => c.id), gridId };
}

/** Reads a stored image's pixels. */
export async function loadImagePixels(
  deps: Pick<ImageJobDeps, 'files'>,
  image: ImageRecord,
): Promise<RgbImage> {
  return readImage(deps.files.resolve(image.filePath));
}

function parentOf(deps: ImageJobDeps, id: string): ImageRecord {
  const parent = deps.store.getImage(id);
  if (!parent) throw new UserError(ErrorCode.ImageNotFound, `The image ${id} no longer exists.`);
  return parent;
}

/** Registers generate, variation, inpaint and upscale on the queue. */
export function registerImageJobs(queue: JobQueue, deps: ImageJobDeps, models: ModelRegistry): void {
  const previewEvery = deps.previewEvery ?? 0;
  queue.register('generate', {
    handler: async (job, context) => {
      const p = job.params as GenerateParams;
      const spec = models.get(p.model);
      const result = await deps.pipeline.generate(
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
        },
        hooksFor(context, previewEvery),
      );
      return storeResults(deps, job, result, {
        operation: p.jitter ? 'variation' : 'generate',
        prompt: p.prompt,
        negativePrompt: p.negativePrompt,
        model: p.model,
        parentId: p.parentId ?? null,
      });
    },
  });
  queue.register('variation', {
    handler: async (job, context) => {
      const p = job.params as VaryParams;
      const parent = parentOf(deps, p.parentId);
      const spec = models.get(p.model);
      const result = await deps.pipeline.vary(
        {
          model: spec,
          image: await loadImagePixels(deps, parent),
          prompt: p.prompt,
          negativePrompt: p.negativePrompt,
          seed: p.seed,
          strength: p.strength,
          steps: p.steps,
          guidance: p.guidance,
          n: p.n,
          scheduler: schedulerFor(spec, p.scheduler),
        },
        hooksFor(context, previewEvery),
      );
      return storeResults(deps, job, result, {
        operation: 'variation',
        prompt: p.prompt,
        negativePrompt: p.negativePrompt,
        model: p.model,
        strength: p.strength,
        parentId: parent.id,
      });
    },
  });
  /** Repaints the mask of an image with the job's prompt; stored as an inpaint of the job's parent. */
  const paint = async (
    job: JobRecord,
    context: JobContext,
    p: InpaintParams | OutpaintParams,
    painted: { image: RgbImage; mask: Float32Array },
    stored: { maskId?: string; extra?: unknown },
  ) => {
    const result = await deps.pipeline.inpaint(
      {
        model: models.get(p.model),
        ...painted,
        prompt: p.prompt,
        negativePrompt: p.negativePrompt,
        seed: p.seed,
        steps: p.steps,
        guidance: p.guidance,
        n: 1,
      },
      hooksFor(context, previewEvery),
    );
    return storeResults(deps, job, result, {
      operation: 'inpaint',
      prompt: p.prompt,
      negativePrompt: p.negativePrompt,
      model: p.model,
      parentId: p.parentId,
      ...stored,
    });
  };
  queue.register('inpaint', {
    handler: async (job, context) => {
      const p = job.params as InpaintParams;
      const parent = parentOf(deps, p.parentId);
      const mask = deps.store.getMask(p.maskId);
      if (!mask) throw new UserError(ErrorCode.ImageNotFound, `The mask ${p.maskId} no longer exists.`);
      const image = await loadImagePixels(deps, parent);
      const values = await readMask(deps.files.resolve(mask.filePath), image);
      return paint(job, context, p, { image, mask: values }, { maskId: mask.id });
    },
  });
  queue.register('outpaint', {
    handler: async (job, context) => {
      const p = job.params as OutpaintParams;
      const parent = parentOf(deps, p.parentId);
      const spec = models.get(p.model);
      const canvas = canvasFor(parent.width, parent.height, p.outpaint, maxArea(spec), spec.sizeMultiple);
      const built = await buildCanvas(await loadImagePixels(deps, parent), canvas);
      return paint(job, context, p, built, { extra: { outpaint: p.outpaint, place: canvas.place } });
    },
  });
  queue.register('upscale', {
    cheap: true,
    handler: async (job, context) => {
      const p = job.params as UpscaleParams;
      const parent = parentOf(deps, p.parentId);
      const upscaler = models.upscaler();
      const result = await deps.pipeline.upscale(
        {
          image: await loadImagePixels(deps, parent),
          scale: p.scale,
          ...(upscaler ? { upscaler } : {}),
          ...(p.creative
            ? {
                refine: {
                  model: models.get(parent.model),
                  prompt: parent.prompt,
                  negativePrompt: parent.negativePrompt,
                  seed: p.seed,
                  strength: 0.25,
                },
              }
            : {}),
        },
        hooksFor(context, previewEvery),
      );
      const saved = await saveImage(deps, result.images[0]!, {
        operation: 'upscale',
        prompt: parent.prompt,
        negativePrompt: parent.negativePrompt,
        seed: parent.seed,
        steps: result.steps || parent.steps,
        guidance: result.guidance || parent.guidance,
        scheduler: result.scheduler,
        model: parent.model,
        parentId: parent.id,
        userId: job.userId,
        jobId: job.id,
        cell: null,
        extra: { scale: p.scale, creative: p.creative },
      });
      return { imageIds: [saved.id], gridId: null } satisfies ImageJobResult;
    },
  });
}
