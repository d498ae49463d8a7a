/**
 * Model folders. Two layouts are understood:
 * - Hugging Face optimum's Stable Diffusion ONNX export, detected by `model_index.json`
 *   (`text_encoder/`, `unet/`, `vae_encoder/`, `vae_decoder/`, `tokenizer/`, `scheduler/`);
 * - flowbot's own manifest, `model.json` (the shipped flow-matching model), documented in README.
 * A missing or broken folder fails with a message naming the file that is wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, FlowbotError } from '../errors.js';
import { createLogger } from '../log.js';
import { SCHEDULER_CLASSES, type SchedulerConfig } from './schedulers/index.js';

const log = createLogger('model');

/** How a model inpaints: a 9-channel UNet, or blending the known region back in at every step. */
export type InpaintMode = 'native' | 'blend';

/** Everything the pipeline needs to know about a model folder. */
export interface ModelSpec {
  readonly name: string;
  readonly dir: string;
  readonly format: 'diffusers-onnx' | 'flowbot';
  readonly files: {
    readonly textEncoder: string;
    readonly denoiser: string;
    readonly vaeEncoder: string | undefined;
    readonly vaeDecoder: string;
  };
  readonly tokenizer: {
    readonly vocab: string;
    readonly merges: string;
    readonly maxLength: number;
    readonly padTokenId: number;
  };
  readonly scheduler: SchedulerConfig;
  readonly flow: boolean;
  readonly latent: {
    readonly channels: number;
    readonly downscale: number;
    readonly scale: number;
    readonly shift: number;
  };
  readonly nativeSize: { readonly width: number; readonly height: number };
  /** Image sides are rounded to multiples of this. */
  readonly sizeMultiple: number;
  readonly defaults: { readonly steps: number; readonly guidance: number };
  /** Latent → RGB factors for previews ([channels][3]). */
  readonly latentRgb: readonly (readonly number[])[];
  readonly license: string | undefined;
  /** Style words the model was trained with ("… in 3d style"), for --style. */
  readonly styles: readonly string[];
}

/** Stable Diffusion 1.x latent → RGB approximation, for previews. */
const SD_LATENT_RGB = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

function fail(file: string, problem: string): FlowbotError {
  return new FlowbotError(ErrorCode.ModelInvalid, `${file}: ${problem}`);
}

function readJson(file: string): unknown {
  if (!existsSync(file)) throw fail(file, 'missing');
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw fail(file, `not valid JSON (${(error as Error).message})`);
  }
}

function requireFile(file: string): string {
  if (!existsSync(file)) throw fail(file, 'missing');
  return file;
}

const manifestSchema = z.object({
  format: z.literal('flowbot-model'),
  version: z.literal(1),
  name: z.string().min(1),
  license: z.string().optional(),
  components: z.object({
    text_encoder: z.string(),
    denoiser: z.string(),
    vae_encoder: z.string().optional(),
    vae_decoder: z.string(),
  }),
  tokenizer: z.object({
    vocab: z.string(),
    merges: z.string(),
    max_length: z.number().int().positive().default(77),
    pad_token_id: z.number().int().nonnegative().default(49407),
  }),
  latent: z.object({
    channels: z.number().int().positive(),
    downscale: z.number().int().positive(),
    scale: z.number().positive(),
    shift: z.number().default(0),
  }),
  native_size: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }),
  size_multiple: z.number().int().positive().optional(),
  defaults: z.object({
    steps: z.number().int().positive(),
    guidance: z.number().nonnegative(),
    scheduler: z.record(z.string(), z.unknown()),
  }),
  prediction: z.enum(['flow_prediction', 'epsilon', 'v_prediction']),
  latent_rgb: z.array(z.array(z.number()).length(3)).optional(),
  styles: z.array(z.string()).optional(),
});

/** Reads a flowbot `model.json`. */
function loadManifest(dir: string, name: string): ModelSpec {
  const file = path.join(dir, 'model.json');
  const parsed = manifestSchema.safeParse(readJson(file));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail(file, `${issue.path.join('.') || 'manifest'}: ${issue.message}`);
  }
  const m = parsed.data;
  const resolve = (relative: string) => requireFile(path.join(dir, relative));
  const scheduler = { ...m.defaults.scheduler, prediction_type: m.prediction } as SchedulerConfig;
  return {
    name,
    dir,
    format: 'flowbot',
    files: {
      textEncoder: resolve(m.components.text_encoder),
      denoiser: resolve(m.components.denoiser),
      vaeEncoder: m.components.vae_encoder ? resolve(m.components.vae_encoder) : undefined,
      vaeDecoder: resolve(m.components.vae_decoder),
    },
    tokenizer: {
      vocab: resolve(m.tokenizer.vocab),
      merges: resolve(m.tokenizer.merges),
      maxLength: m.tokenizer.max_length,
      padTokenId: m.tokenizer.pad_token_id,
    },
    scheduler: checkScheduler(scheduler, file),
    flow: m.prediction === 'flow_prediction',
    latent: m.latent,
    nativeSize: m.native_size,
    sizeMultiple: m.size_multiple ?? m.latent.downscale,
    defaults: { steps: m.defaults.steps, guidance: m.defaults.guidance },
    latentRgb: m.latent_rgb ?? SD_LATENT_RGB,
    license: m.license,
    styles: m.styles ?? [],
  };
}

function checkScheduler(config: SchedulerConfig, file: string): SchedulerConfig {
  const className = config._class_name;
  if (typeof className === 'string' && SCHEDULER_CLASSES.includes(className)) return config;
  // PNDM (SD 1.x's default) and others we do not implement: keep the noise schedule, sample with Euler.
  log.info('scheduler not implemented; using Euler with the same noise schedule', {
    file,
    scheduler: className,
  });
  return { ...config, _class_name: 'EulerDiscreteScheduler' };
}

/** Reads an optimum SD export. */
function loadDiffusers(dir: string, name: string): ModelSpec {
  readJson(path.join(dir, 'model_index.json'));
  const schedulerFile = path.join(dir, 'scheduler', 'scheduler_config.json');
  const scheduler = checkScheduler(readJson(schedulerFile) as SchedulerConfig, schedulerFile);
  const vaeConfigFile = ['vae_decoder/config.json', 'vae/config.json']
    .map((f) => path.join(dir, f))
    .find(existsSync);
  const vaeConfig = vaeConfigFile
    ? (readJson(vaeConfigFile) as { scaling_factor?: number; latent_channels?: number })
    : {};
  const unetConfigFile = path.join(dir, 'unet', 'config.json');
  const unetConfig = existsSync(unetConfigFile) ? (readJson(unetConfigFile) as { sample_size?: number }) : {};
  const vPrediction = scheduler.prediction_type === 'v_prediction';
  const turbo = /turbo/i.test(name);
  const native = (unetConfig.sample_size ?? (vPrediction ? 96 : 64)) * 8;
  const vaeEncoder = path.join(dir, 'vae_encoder', 'model.onnx');
  return {
    name,
    dir,
    format: 'diffusers-onnx',
    files: {
      textEncoder: requireFile(path.join(dir, 'text_encoder', 'model.onnx')),
      denoiser: requireFile(path.join(dir, 'unet', 'model.onnx')),
      vaeEncoder: existsSync(vaeEncoder) ? vaeEncoder : undefined,
      vaeDecoder: requireFile(path.join(dir, 'vae_decoder', 'model.onnx')),
    },
    tokenizer: {
      vocab: requireFile(path.join(dir, 'tokenizer', 'vocab.json')),
      merges: requireFile(path.join(dir, 'tokenizer', 'merges.txt')),
      maxLength: 77,
      padTokenId: 49407,
    },
    scheduler: turbo
      ? { ...scheduler, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing' }
      : scheduler,
    flow: false,
    latent: {
      channels: vaeConfig.latent_channels ?? 4,
      downscale: 8,
      scale: vaeConfig.scaling_factor ?? 0.18215,
      shift: 0,
    },
    nativeSize: { width: native, height: native },
    sizeMultiple: 64,
    defaults: turbo ? { steps: 2, guidance: 0 } : { steps: 25, guidance: 7.5 },
    latentRgb: SD_LATENT_RGB,
    license: undefined,
    styles: [],
  };
}

/** Reads the model folder `dir`, whichever layout it has. */
export function loadModelSpec(dir: string): ModelSpec {
  const name = path.basename(dir);
  if (!existsSync(dir)) throw fail(dir, 'model folder not found');
  if (existsSync(path.join(dir, 'model.json'))) return loadManifest(dir, name);
  if (existsSync(path.join(dir, 'model_index.json'))) return loadDiffusers(dir, name);
  throw fail(
    dir,
    'not a model folder: it has neither model.json (flowbot) nor model_index.json (diffusers ONNX)',
  );
}

/** A super-resolution model folder (`model.onnx` + optional `upscaler.json`). */
export interface UpscalerSpec {
  readonly name: string;
  readonly file: string;
  readonly scale: number;
  /** Multiply 0–1 pixels by this before the model (255 for models trained on 0–255). */
  readonly inputScale: number;
  readonly tile: number;
}

const upscalerSchema = z.object({
  format: z.literal('flowbot-upscaler').optional(),
  scale: z.number().int().min(2).max(8),
  input_range: z.tuple([z.number(), z.number()]).default([0, 1]),
  tile: z.number().int().min(16).max(2048).default(128),
});

/** Reads an upscaler folder. */
export function loadUpscalerSpec(dir: string): UpscalerSpec {
  const file = requireFile(path.join(dir, 'model.onnx'));
  const configFile = path.join(dir, 'upscaler.json');
  const parsed = upscalerSchema.safeParse(existsSync(configFile) ? readJson(configFile) : { scale: 4 });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail(configFile, `${issue.path.join('.')}: ${issue.message}`);
  }
  return {
    name: path.basename(dir),
    file,
    scale: parsed.data.scale,
    inputScale: parsed.data.input_range[1],
    tile: parsed.data.tile,
  };
}
