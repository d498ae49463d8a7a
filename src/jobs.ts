/**
 * The image job kinds the queue runs: generate, variation, inpaint, outpaint, upscale and exact edits. For each job
 * the front-end reads what it needs from the store into a work order, hands it to the executor
 * (in-process, or a Redis worker), and stores the images that come back: PNGs written atomically and
 * recorded with their lineage before the job is marked succeeded, so a result is never lost. Storing is
 * idempotent per job, so a job delivered twice is still recorded once.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, UserError } from './errors.js';
import { IMAGE_JOB_KINDS, type ImageJobKind } from './job-params.js';
import { lorasOfExtra } from './lora/facts.js';
import type { NsfwClassifier, NsfwReading } from './moderation/classifier.js';
import { composeGrid, encodePng, type RgbImage, readImage } from './pipeline/image.js';
import { pngText } from './pipeline/recipe.js';
import type { JobQueue } from './queue/queue.js';
import type { FileStore } from './store/files.js';
import type { ImageOperation, ImageRecord, JobRecord, NewImage, Store } from './store/store.js';
import type { WorkExecutor } from './work/executor.js';
import { type ParentInfo, parseParams, type WorkOrder, type WorkResult } from './work/order.js';

export type {
  EditParams,
  GenerateParams,
  InpaintParams,
  OutpaintParams,
  UpscaleParams,
  VaryParams,
} from './job-params.js';
export { ModelRegistry } from './work/models.js';

/** What every image job returns: the images made, and the grid when there are several. */
export interface ImageJobResult {
  readonly imageIds: string[];
  readonly gridId: string | null;
}

/** What the job kinds need on the front-end. */
export interface ImageJobDeps {
  readonly store: Store;
  readonly files: FileStore;
  /** Emit a preview every this many steps (0 = none). */
  readonly previewEvery?: number;
  /**
   * Image moderation: every image a job makes is read before it is stored (so before it can be posted)
   * and its score recorded with it. Absent: images are stored unchecked.
   */
  readonly moderation?: NsfwClassifier | undefined;
}

/** The stored facts of an image, without the ones its file determines. */
type ImageFacts = Omit<NewImage, 'width' | 'height' | 'filePath' | 'sha256'>;

/** Encodes an image as PNG with its recipe and writes the file; returns the row to record. */
async function writeImageFile(
  deps: Pick<ImageJobDeps, 'files'>,
  image: RgbImage,
  facts: ImageFacts,
): Promise<NewImage> {
  // The PNG carries the recipe only: who asked, and which job, stay in the store.
  const png = await encodePng(
    image,
    pngText({
      prompt: facts.prompt,
      negativePrompt: facts.negativePrompt ?? '',
      seed: facts.seed,
      steps: facts.steps,
      guidance: facts.guidance,
      scheduler: facts.scheduler,
      model: facts.model,
      operation: facts.operation,
      width: image.width,
      height: image.height,
      ...(facts.strength ? { strength: facts.strength } : {}),
      parent: facts.parentId ?? null,
      ...(lorasOfExtra(facts.extra).length > 0 ? { loras: lorasOfExtra(facts.extra) } : {}),
    }),
  );
  const file = await deps.files.save('images', png);
  return {
    ...facts,
    width: image.width,
    height: image.height,
    filePath: file.relativePath,
    sha256: file.sha256,
  };
}

/** Encodes an image as PNG with its recipe, stores the file and records it with its lineage. */
export async function saveImage(
  deps: Pick<ImageJobDeps, 'files' | 'store'>,
  image: RgbImage,
  facts: ImageFacts,
): Promise<ImageRecord> {
  return deps.store.insertImage(await writeImageFile(deps, image, facts));
}

/** Reads a stored image's pixels, at another size when `size` is given. */
export async function loadImagePixels(
  deps: Pick<ImageJobDeps, 'files'>,
  image: ImageRecord,
  size?: { width: number; height: number },
): Promise<RgbImage> {
  return readImage(deps.files.resolve(image.filePath), size);
}

function parentOf(deps: ImageJobDeps, id: string): ImageRecord {
  const parent = deps.store.getImage(id);
  if (!parent) throw new UserError(ErrorCode.ImageNotFound, `The image ${id} no longer exists.`);
  return parent;
}

function parentInfo(parent: ImageRecord): ParentInfo {
  return {
    id: parent.id,
    width: parent.width,
    height: parent.height,
    prompt: parent.prompt,
    negativePrompt: parent.negativePrompt,
    model: parent.model,
    guidance: parent.guidance,
  };
}

/** Reads from the store everything the job's work needs: parameters, parent image and mask files. */
export async function prepareOrder(deps: ImageJobDeps, job: JobRecord): Promise<WorkOrder> {
  const kind = job.kind as ImageJobKind;
  const base = { jobId: job.id, kind, params: job.params, previewEvery: deps.previewEvery ?? 0 };
  if (kind === 'generate') return { ...base, model: parseParams(kind, job.params).model };
  const p = parseParams(kind, job.params);
  const parent = parentOf(deps, p.parentId);
  const image = await readFile(deps.files.resolve(parent.filePath));
  const model = 'model' in p ? p.model : parent.model;
  const order: WorkOrder = { ...base, model, parent: parentInfo(parent), image };
  if (kind !== 'inpaint') return order;
  const { maskId } = parseParams('inpaint', job.params);
  const mask = deps.store.getMask(maskId);
  if (!mask) throw new UserError(ErrorCode.ImageNotFound, `The mask ${maskId} no longer exists.`);
  return { ...order, mask: await readFile(deps.files.resolve(mask.filePath)) };
}

/** The facts every image of the job shares, by kind. */
function sharedFacts(deps: ImageJobDeps, job: JobRecord, result: WorkResult): ImageFacts {
  const kind = job.kind as ImageJobKind;
  const common = {
    steps: result.steps,
    guidance: result.guidance,
    scheduler: result.scheduler,
    userId: job.userId,
    jobId: job.id,
    seed: result.seeds[0] ?? 0,
    cell: null,
  };
  if (kind === 'upscale' || kind === 'edit') {
    // Neither makes a new recipe: the image keeps its parent's prompt, seed and model.
    const p = parseParams(kind, job.params);
    const parent = parentOf(deps, p.parentId);
    return {
      ...common,
      operation: kind,
      prompt: parent.prompt,
      negativePrompt: parent.negativePrompt,
      seed: parent.seed,
      steps: result.steps || parent.steps,
      guidance: result.guidance || parent.guidance,
      model: parent.model,
      parentId: parent.id,
      extra: result.extra ?? null,
    };
  }
  const p = parseParams(kind, job.params);
  const operation: ImageOperation =
    kind === 'generate'
      ? 'jitter' in p && p.jitter
        ? 'variation'
        : 'generate'
      : kind === 'outpaint'
        ? 'inpaint'
        : kind;
  return {
    ...common,
    operation,
    prompt: p.prompt,
    negativePrompt: p.negativePrompt,
    model: p.model,
    strength: 'strength' in p ? p.strength : null,
    parentId: p.parentId ?? null,
    maskId: 'maskId' in p ? p.maskId : null,
    extra: result.extra ?? null,
  };
}

/**
 * The classifier's reading of each image (a grid's cells each, the way they are also posted alone), and
 * of the grid: its most explicit cell's. Undefined without a classifier.
 */
async function readImages(
  deps: ImageJobDeps,
  images: readonly RgbImage[],
): Promise<{ cells: NsfwReading[]; grid: NsfwReading } | undefined> {
  if (!deps.moderation || images.length === 0) return undefined;
  const cells = await deps.moderation.classify(images);
  const grid = cells.reduce((worst, reading) => (reading.score > worst.score ? reading : worst));
  return { cells, grid };
}

/**
 * Stores a job's images (and a grid when there are several), with image moderation's reading of each.
 * The images are read and their files written first; the rows are then recorded in one transaction that
 * first removes any rows an interrupted earlier delivery of the same job left, so a job is recorded
 * exactly once however often its result arrives.
 */
export async function storeResult(
  deps: ImageJobDeps,
  job: JobRecord,
  result: WorkResult,
): Promise<ImageJobResult> {
  const shared = sharedFacts(deps, job, result);
  const readings = await readImages(deps, result.images);
  const several = result.images.length > 1;
  const cells: NewImage[] = [];
  for (let i = 0; i < result.images.length; i++) {
    const facts = {
      ...shared,
      seed: several ? (result.seeds[i] ?? 0) : shared.seed,
      cell: several ? i : null,
    };
    cells.push(await writeImageFile(deps, result.images[i]!, facts));
  }
  const grid = several
    ? await writeImageFile(deps, await composeGrid(result.images), { ...shared, operation: 'grid' })
    : undefined;
  return deps.store.transaction(() => {
    deps.store.deleteImagesOfJob(job.id);
    const cellIds = cells.map((cell) => deps.store.insertImage(cell).id);
    const gridId = grid ? deps.store.insertImage({ ...grid, extra: { cells: cellIds } }).id : null;
    if (readings) {
      cellIds.forEach((id, i) => {
        deps.store.moderation.recordScore(id, readings.cells[i]!);
      });
      if (gridId) deps.store.moderation.recordScore(gridId, readings.grid);
    }
    return { imageIds: cellIds, gridId };
  });
}

/** Registers every image job kind on the queue: prepare the order, run it on `executor`, store the result. */
export function registerImageJobs(queue: JobQueue, deps: ImageJobDeps, executor: WorkExecutor): void {
  for (const kind of IMAGE_JOB_KINDS) {
    queue.register(kind, {
      // Upscales and exact edits are quick: they go ahead of diffusion jobs (still in turn between people).
      ...(kind === 'upscale' || kind === 'edit' ? { cheap: true } : {}),
      handler: async (job, context) => {
        const order = await prepareOrder(deps, job);
        const result = await executor.run(order, context);
        context.signal.throwIfAborted();
        return storeResult(deps, job, result);
      },
    });
  }
}
