/**
 * A work order: everything a worker needs to run one image job, with no access to the store. The
 * front-end builds it from the stored job ({@link import('../jobs.js')}), a worker computes it, and the
 * front-end stores what comes back. In-process the order is handed over as is; through Redis it travels
 * as {@link WireOrder}, validated with zod on arrival.
 */
import { z } from 'zod';
import { ErrorCode, UserError } from '../errors.js';
import { IMAGE_JOB_KINDS, type ImageJobKind, JOB_PARAM_SCHEMAS } from '../job-params.js';
import type { RgbImage } from '../pipeline/image.js';

/** What a worker needs to know about the image a job starts from. */
export const parentSchema = z.object({
  id: z.string().min(1).max(64),
  width: z.number().int().min(1).max(16384),
  height: z.number().int().min(1).max(16384),
  prompt: z.string().max(8000),
  negativePrompt: z.string().max(8000),
  model: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  /** For the memory estimate of a creative upscale; unknown counts as guided. */
  guidance: z.number().min(0).max(100).optional(),
});

/** The parent image's record, as the worker sees it. */
export type ParentInfo = z.infer<typeof parentSchema>;

/** One image job, ready to compute. */
export interface WorkOrder {
  readonly jobId: string;
  readonly kind: ImageJobKind;
  /** Validated with the kind's schema ({@link parseParams}). */
  readonly params: unknown;
  /**
   * The model folder whose workers can run it: the job's model, or for upscales their image's (a plain
   * upscale may be routed to any worker's model, since it needs none).
   */
  readonly model: string;
  readonly parent?: ParentInfo;
  /** The parent image's file (PNG) for variations, inpainting, outpainting and upscales. */
  readonly image?: Uint8Array;
  /** The mask file for inpainting. */
  readonly mask?: Uint8Array;
  /** Emit a preview every this many steps (0: none). */
  readonly previewEvery: number;
}

/** What a computed order returns, before anything is stored. */
export interface WorkResult {
  readonly images: RgbImage[];
  readonly seeds: number[];
  readonly steps: number;
  readonly guidance: number;
  readonly scheduler: string;
  /** Kind-specific facts to record with the image (the outpainting canvas). */
  readonly extra?: Record<string, unknown>;
}

/**
 * A work order as it travels through Redis: the input files are replaced by blob keys. Strict: a key
 * flowbot never sends means the order did not come from flowbot.
 */
export const wireOrderSchema = z.strictObject({
  jobId: z.string().min(1).max(64),
  kind: z.enum(IMAGE_JOB_KINDS as [ImageJobKind, ...ImageJobKind[]]),
  params: z.unknown(),
  model: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  parent: parentSchema.optional(),
  image: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  mask: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  previewEvery: z.number().int().min(0).max(1000),
});

/** A work order on the wire. */
export type WireOrder = z.infer<typeof wireOrderSchema>;

/**
 * What a worker returns through Redis: the images as blob keys of lossless PNGs. What is recorded from
 * it is bounded; the images are checked against the order once they are read.
 */
export const wireResultSchema = z.strictObject({
  images: z
    .array(z.string().regex(/^[0-9a-f]{64}$/))
    .min(1)
    .max(16),
  seeds: z
    .array(
      z
        .number()
        .int()
        .min(0)
        .max(2 ** 32),
    )
    .max(16),
  steps: z.number().int().min(0).max(1000),
  guidance: z.number().min(0).max(100),
  // Recorded and shown with the image: a name such as "flow_euler" or "sr:emoji-sr+flow_euler", never prose.
  scheduler: z.string().regex(/^[A-Za-z0-9_.:+-]{1,64}$/),
  extra: z
    .record(z.string(), z.unknown())
    .refine((extra) => JSON.stringify(extra).length <= 4000, 'too large')
    .optional(),
});

/** A work result on the wire. */
export type WireResult = z.infer<typeof wireResultSchema>;

/**
 * The parameters of `kind`, validated. A job whose stored or received parameters do not fit is refused
 * with a message naming the first wrong field, before any image work starts. `strict` (orders from
 * Redis) also refuses keys the kind does not have.
 */
export function parseParams<K extends ImageJobKind>(
  kind: K,
  params: unknown,
  options: { readonly strict?: boolean } = {},
): z.infer<(typeof JOB_PARAM_SCHEMAS)[K]> {
  const schema = JOB_PARAM_SCHEMAS[kind];
  const parsed = (options.strict ? schema.strict() : schema).safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'parameters';
    throw new UserError(
      ErrorCode.JobInvalid,
      `That ${kind} job cannot run: its ${where} is not valid (${issue?.message ?? 'unknown problem'}).`,
    );
  }
  return parsed.data as z.infer<(typeof JOB_PARAM_SCHEMAS)[K]>;
}
