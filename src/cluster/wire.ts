/**
 * Work orders and results on their way through Redis: images become blob keys, failures become a
 * code. Everything received is validated with zod, results are checked against their order, and a
 * failure is told in flowbot's own words for its code, never in the worker's.
 */
import { z } from 'zod';
import { ErrorCode, FlowbotError, UserError } from '../errors.js';
import { createLogger } from '../log.js';
import { encodePng, readImage } from '../pipeline/image.js';
import { checkResultCount, checkResultImage, type ResultShape } from '../work/expected.js';
import {
  parseParams,
  type WireOrder,
  type WireResult,
  type WorkOrder,
  type WorkResult,
  wireOrderSchema,
  wireResultSchema,
} from '../work/order.js';
import type { BlobStore } from './redis.js';

const log = createLogger('dispatcher');

/** Uploads the order's files and returns what is queued. */
export async function orderToWire(order: WorkOrder, blobs: BlobStore): Promise<WireOrder> {
  const { image, mask, ...rest } = order;
  return {
    ...rest,
    // Exactly the kind's keys, since workers refuse any other.
    params: parseParams(order.kind, order.params),
    ...(image ? { image: await blobs.put(image) } : {}),
    ...(mask ? { mask: await blobs.put(mask) } : {}),
  };
}

async function fetchBlob(blobs: BlobStore, key: string, what: string): Promise<Buffer> {
  const bytes = await blobs.get(key);
  if (!bytes)
    throw new UserError(
      ErrorCode.ImageNotFound,
      `The ${what} for this job expired before a worker got to it.`,
    );
  return bytes;
}

/**
 * Validates a received order and downloads its files. `admit` sees the order first and throws to
 * refuse it, so that a job beyond the limits costs no download.
 */
export async function orderFromWire(
  data: unknown,
  blobs: BlobStore,
  admit: (order: WireOrder) => void = () => undefined,
): Promise<WorkOrder> {
  const parsed = wireOrderSchema.safeParse(data);
  if (!parsed.success)
    throw new UserError(ErrorCode.JobInvalid, 'That job reached the worker malformed, so it was not run.');
  admit(parsed.data);
  const { image, mask, parent, ...rest } = parsed.data;
  return {
    ...rest,
    ...(parent ? { parent } : {}),
    ...(image ? { image: await fetchBlob(blobs, image, 'image') } : {}),
    ...(mask ? { mask: await fetchBlob(blobs, mask, 'mask') } : {}),
  };
}

/** Uploads a result's images as lossless PNGs. */
export async function resultToWire(result: WorkResult, blobs: BlobStore): Promise<WireResult> {
  const images: string[] = [];
  for (const image of result.images) images.push(await blobs.put(await encodePng(image)));
  return {
    images,
    seeds: result.seeds,
    steps: result.steps,
    guidance: result.guidance,
    scheduler: result.scheduler,
    ...(result.extra ? { extra: result.extra } : {}),
  };
}

/**
 * Validates a returned result and downloads its images, checking them against `shape`, the images the
 * job makes: the count before anything is downloaded, each size once read. Undefined when the images
 * are gone from Redis (the job must then run again).
 */
export async function resultFromWire(
  data: unknown,
  blobs: BlobStore,
  shape: ResultShape,
): Promise<WorkResult | undefined> {
  const parsed = wireResultSchema.parse(typeof data === 'string' ? JSON.parse(data) : data);
  checkResultCount(shape, parsed.images.length);
  const images = [];
  for (const key of parsed.images) {
    const bytes = await blobs.get(key);
    if (!bytes) return undefined;
    const image = await readImage(bytes);
    checkResultImage(shape, image);
    images.push(image);
  }
  const { extra, ...rest } = parsed;
  return { ...rest, images, ...(extra ? { extra } : {}) };
}

/** How a worker reports a failure: its code, its own text (for the front-end's log only) and error id. */
const failureSchema = z.object({
  code: z.string().max(64),
  message: z.string().optional(),
  errorId: z
    .string()
    .regex(/^[0-9a-z]{4}$/)
    .optional(),
});

/** A worker's failure as it crosses Redis: the code, its text for the log, and the id it logged it under. */
export function failureToWire(error: FlowbotError, message: string, errorId?: string): string {
  return JSON.stringify({ code: error.code, message, ...(errorId ? { errorId } : {}) });
}

/**
 * What people are told when a worker refuses or fails their job, by code: flowbot's own words, since a
 * worker's text is no more trusted than anything else in Redis. Other codes are internal errors.
 */
const WORKER_FAILURES: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.JobCancelled]: 'Cancelled.',
  [ErrorCode.JobInvalid]: 'That job reached the image worker malformed, so it was not run.',
  [ErrorCode.ImageNotFound]:
    'An image this job needs expired before an image worker got to it. Please try again.',
  [ErrorCode.ImageInvalid]: 'The image worker could not use the image this job starts from.',
  [ErrorCode.ModelInvalid]: 'The image worker that took this job could not load its model.',
  [ErrorCode.ModelInput]: 'The image worker could not run this job with its model.',
  [ErrorCode.WorkerUnavailable]:
    'The image worker that took this job does not have its model. Please try again.',
  [ErrorCode.FlagValue]: 'This job asks for more steps, images or pixels than the image workers here allow.',
  [ErrorCode.OverBudget]:
    'This job is larger than the image worker that took it can run (its memory budget or size limits). Try a smaller size.',
};

/**
 * A worker's failure as the front-end raises it: a UserError in flowbot's words, or an internal error.
 * What the worker said is logged (escaped), never shown.
 */
export function failureFromWire(reason: string | undefined, jobId: string): FlowbotError {
  const failure = readFailure(reason);
  if (failure && failure.code !== ErrorCode.JobCancelled) {
    log.info('an image worker failed a job', {
      job: jobId,
      code: JSON.stringify(failure.code),
      workerErrorId: failure.errorId,
      workerMessage: JSON.stringify((failure.message ?? '').slice(0, 500)),
    });
  }
  if (!failure) {
    // BullMQ's own reasons (a stalled job given up on) are plain text; they are not shown as they are.
    log.info('a job ended on an image worker without a report', {
      job: jobId,
      reason: JSON.stringify((reason ?? '').slice(0, 500)),
    });
    return new UserError(
      ErrorCode.Internal,
      'The worker running this job stopped without finishing it. Please try again.',
      { reason },
    );
  }
  const text = WORKER_FAILURES[failure.code as ErrorCode];
  if (text) return new UserError(failure.code as ErrorCode, text);
  // The error boundary answers with an apology and an id; the worker's words only reach the log.
  return new FlowbotError(
    ErrorCode.Internal,
    `an image worker failed the job (code ${JSON.stringify(failure.code)}${failure.errorId ? `, worker error id ${failure.errorId}` : ''}): ${JSON.stringify((failure.message ?? '').slice(0, 500))}`,
  );
}

/** A worker's failure report; undefined when the reason is not one. */
function readFailure(reason: string | undefined): z.infer<typeof failureSchema> | undefined {
  try {
    const parsed = failureSchema.safeParse(JSON.parse(reason ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
