/**
 * The parameters of each image job kind, as zod schemas. They are stored with the job and, with
 * `REDIS_URL`, cross a process boundary to a worker, so both paths validate them with these schemas
 * before any image work starts. The bounds are sanity bounds on the wire; the user-facing limits are
 * checked earlier, in `commands/limits.ts`.
 */
import { z } from 'zod';
import { exactEditSchema } from './pipeline/edits.js';
import { SCHEDULER_NAMES } from './prompt/params.js';

const text = z.string().max(8000);
const seed = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32);
const steps = z.number().int().min(0).max(1000);
const guidance = z.number().min(0).max(100);
const side = z.number().int().min(8).max(16384);
const id = z.string().min(1).max(64);
/** A model folder's name, wherever one crosses a boundary. */
export const modelNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/);
const model = modelNameSchema;
/** `--tile`: seamless tiles (variations of a tile stay tiles). */
const tile = z.boolean().optional();

/** LoRA names as they cross a boundary: names, never paths (`lora/library.ts` checks them again). */
export const loraNameSchema = z.string().regex(/^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}$/);
/** LoRAs and their weights (`<lora:name:0.8>`, `--lora`), kept by variations, zooms and creative upscales. */
const loras = z
  .array(z.object({ name: loraNameSchema, weight: z.number().min(-4).max(4) }))
  .max(8)
  .optional();

/** Parameters shared by every image job. */
const common = {
  /** One line saying how flowbot understood the request; shown with the result. */
  explanation: z.string().max(4000),
};

const prompted = {
  ...common,
  prompt: text,
  negativePrompt: text,
  seed,
  steps,
  guidance,
  model,
  loras,
};

/** A text-to-image job. */
export const generateParamsSchema = z.object({
  ...prompted,
  width: side,
  height: side,
  n: z.number().int().min(1).max(16),
  scheduler: z.enum(SCHEDULER_NAMES).optional(),
  /** Set for rerolls and parameter edits: the image this one replaces in the conversation. */
  parentId: id.optional(),
  /** Seed-jitter variations of an image: blend towards this seed's noise. */
  jitter: z.object({ seed, amount: z.number().min(0).max(1) }).optional(),
  /** `--chaos`: how different the images of a grid are (50 when absent). */
  chaos: z.number().int().min(0).max(100).optional(),
  /** `--draft`: made at the model's draft steps; its result offers "Enhance". */
  draft: z.boolean().optional(),
  tile,
});

/** An image-to-image job. */
export const varyParamsSchema = z.object({
  ...prompted,
  parentId: id,
  strength: z.number().min(0).max(1),
  n: z.number().int().min(1).max(16),
  scheduler: z.enum(SCHEDULER_NAMES).optional(),
  tile,
});

/** An inpainting job. */
export const inpaintParamsSchema = z.object({ ...prompted, parentId: id, maskId: id });

/** How an outpainting job enlarges the canvas. */
export const outpaintSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('zoom'), factor: z.number().min(1).max(4) }),
  z.object({ kind: z.literal('pan'), direction: z.enum(['left', 'right', 'up', 'down']) }),
  z.object({ kind: z.literal('widen'), axis: z.enum(['horizontal', 'vertical']) }),
]);

/** An outpainting job: zoom out, pan or widen, painting the new area of a larger canvas. */
export const outpaintParamsSchema = z.object({ ...prompted, parentId: id, outpaint: outpaintSchema });

/** An upscale job. */
export const upscaleParamsSchema = z.object({
  ...common,
  parentId: id,
  scale: z.union([z.literal(2), z.literal(4)]),
  creative: z.boolean(),
  seed,
  /** The parent's LoRAs, for the creative pass. */
  loras,
});

/** An exact edit of an image ("darker", "mirror", a plain backdrop colour): sharp, no diffusion. */
export const editParamsSchema = z.object({ ...common, parentId: id, edit: exactEditSchema });

/** The schema of each image job kind, by kind. */
export const JOB_PARAM_SCHEMAS = {
  generate: generateParamsSchema,
  variation: varyParamsSchema,
  inpaint: inpaintParamsSchema,
  outpaint: outpaintParamsSchema,
  upscale: upscaleParamsSchema,
  edit: editParamsSchema,
} as const;

/** An image job kind. */
export type ImageJobKind = keyof typeof JOB_PARAM_SCHEMAS;

/** The image job kinds, for iteration. */
export const IMAGE_JOB_KINDS = Object.keys(JOB_PARAM_SCHEMAS) as ImageJobKind[];

export type GenerateParams = z.infer<typeof generateParamsSchema>;
export type VaryParams = z.infer<typeof varyParamsSchema>;
export type InpaintParams = z.infer<typeof inpaintParamsSchema>;
export type OutpaintParams = z.infer<typeof outpaintParamsSchema>;
export type UpscaleParams = z.infer<typeof upscaleParamsSchema>;
export type EditParams = z.infer<typeof editParamsSchema>;
