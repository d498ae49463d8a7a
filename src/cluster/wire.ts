/**
 * Work orders and results on their way through Redis: images become blob keys, failures become a
 * code and a message that is safe to show. Everything received is validated with zod.
 */
import { ErrorCode, type FlowbotError, UserError } from '../errors.js';
import { encodePng, readImage } from '../pipeline/image.js';
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
 * Validates a returned result and downloads its images; undefined when the images are gone from Redis
 * (the job must then run again).
 */
export async function resultFromWire(data: unknown, blobs: BlobStore): Promise<WorkResult | undefined> {
  const parsed = wireResultSchema.parse(typeof data === 'string' ? JSON.parse(data) : data);
  const images = [];
  for (const key of parsed.images) {
    const bytes = await blobs.get(key);
    if (!bytes) return undefined;
    images.push(await readImage(bytes));
  }
  const { extra, ...rest } = parsed;
  return { ...rest, images, ...(extra ? { extra } : {}) };
}

/** A failure as a worker reports it: the code and a message already fit for chat. */
export function failureToWire(error: FlowbotError, message: string): string {
  return JSON.stringify({ code: error.code, message });
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** A worker's failure as the front-end raises it: a UserError, so that its message reaches chat as is. */
export function failureFromWire(reason: string | undefined): UserError {
  try {
    const { code, message } = JSON.parse(reason ?? '') as { code?: string; message?: string };
    if (typeof message === 'string' && typeof code === 'string' && KNOWN_CODES.has(code))
      return new UserError(code as ErrorCode, message);
  } catch {
    // BullMQ's own reasons (a stalled job given up on) are plain text; they are not shown as they are.
  }
  return new UserError(
    ErrorCode.Internal,
    'The worker running this job stopped without finishing it. Please try again.',
    { reason },
  );
}
