/**
 * flowbot's own manifest (`model.json`), used by the shipped model: one CLIP-tokenized text encoder,
 * a UNet-shaped denoiser (σ·1000 timestep) and a VAE, described in README's "Adding a model".
 */
import path from 'node:path';
import { z } from 'zod';
import { folderError, readJson, requireFile } from '../folder.js';
import type { SchedulerConfig } from '../schedulers/index.js';
import { checkScheduler, encodeLastHiddenState, unetAdapter } from './common.js';
import type { ModelFamily, ModelSpec } from './types.js';

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
    /** What `--draft` uses (the fastest good setting); half the steps when absent. */
    draft_steps: z.number().int().positive().optional(),
    guidance: z.number().nonnegative(),
    scheduler: z.record(z.string(), z.unknown()),
  }),
  prediction: z.enum(['flow_prediction', 'epsilon', 'v_prediction']),
  latent_rgb: z.array(z.array(z.number()).length(3)).optional(),
  styles: z.array(z.string()).optional(),
});

function readSpec(dir: string): ModelSpec {
  const file = path.join(dir, 'model.json');
  const parsed = manifestSchema.safeParse(readJson(file));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw folderError(file, `${issue.path.join('.') || 'manifest'}: ${issue.message}`);
  }
  const m = parsed.data;
  const resolve = (relative: string) => requireFile(path.join(dir, relative));
  const scheduler = { ...m.defaults.scheduler, prediction_type: m.prediction } as SchedulerConfig;
  return {
    name: path.basename(dir),
    dir,
    family: 'flowbot',
    format: 'flowbot',
    files: {
      textEncoder: resolve(m.components.text_encoder),
      denoiser: resolve(m.components.denoiser),
      vaeEncoder: m.components.vae_encoder ? resolve(m.components.vae_encoder) : undefined,
      vaeDecoder: resolve(m.components.vae_decoder),
    },
    tokenizers: {
      tokenizer: {
        kind: 'clip',
        vocab: resolve(m.tokenizer.vocab),
        merges: resolve(m.tokenizer.merges),
        maxLength: m.tokenizer.max_length,
        pad: m.tokenizer.pad_token_id,
      },
    },
    scheduler: checkScheduler(scheduler, file),
    flow: m.prediction === 'flow_prediction',
    latent: m.latent,
    nativeSize: m.native_size,
    sizeMultiple: m.size_multiple ?? m.latent.downscale,
    defaults: {
      steps: m.defaults.steps,
      guidance: m.defaults.guidance,
      ...(m.defaults.draft_steps ? { draftSteps: m.defaults.draft_steps } : {}),
    },
    latentRgb: m.latent_rgb,
    license: m.license,
    styles: m.styles ?? [],
    options: {},
  };
}

/** flowbot's manifest models. */
export const flowbotManifest: ModelFamily = {
  id: 'flowbot',
  pipelineClasses: [],
  readSpec,
  guided: (_spec, guidance) => guidance > 1,
  encodePrompt: encodeLastHiddenState,
  schedule: (scheduler, steps) => scheduler.setTimesteps(steps),
  denoiser: (model, _spec, geometry) => unetAdapter(model, geometry),
};
