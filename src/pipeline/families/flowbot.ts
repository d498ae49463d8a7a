/**
 * flowbot's own manifest (`model.json`), used by the shipped model: a text encoder (a CLIP-tokenized
 * transformer, or a WordPiece sentence encoder such as `models/minilm-l6`), a UNet-shaped denoiser
 * (σ·1000 timestep), optionally a few-step draft denoiser, and a VAE, described in README's
 * "Adding a model". Component paths are relative to the folder and may point to a sibling folder.
 */
import path from 'node:path';
import { z } from 'zod';
import { folderError, readJson, requireFile, type TokenizerSpec } from '../folder.js';
import type { HostTensor } from '../onnx.js';
import type { SchedulerConfig } from '../schedulers/index.js';
import { encodeUnpadded, type TextEncoders } from '../text.js';
import { checkScheduler, encodeLastHiddenState, unetAdapter } from './common.js';
import type { Conditioning, ModelFamily, ModelSpec, PromptConditioning } from './types.js';

/** CLIP's BPE from `vocab.json` + `merges.txt`, padded to a fixed length (the default kind). */
const clipTokenizerSchema = z.object({
  kind: z.literal('clip'),
  vocab: z.string(),
  merges: z.string(),
  max_length: z.number().int().positive().default(77),
  pad_token_id: z.number().int().nonnegative().default(49407),
});

/** A WordPiece `tokenizer.json` of a sentence encoder, whose texts run at their own length. */
const wordpieceTokenizerSchema = z.object({
  kind: z.literal('wordpiece'),
  file: z.string(),
  max_length: z.number().int().positive().default(32),
  pad_token_id: z.number().int().nonnegative().default(0),
});

/** `kind` is optional ("clip" when absent), so manifests written before WordPiece still read. */
const tokenizerSchema = z.preprocess(
  (value) =>
    value !== null && typeof value === 'object' && !('kind' in value) ? { ...value, kind: 'clip' } : value,
  z.discriminatedUnion('kind', [clipTokenizerSchema, wordpieceTokenizerSchema]),
);

const manifestSchema = z.object({
  format: z.literal('flowbot-model'),
  version: z.literal(1),
  name: z.string().min(1),
  license: z.string().optional(),
  components: z.object({
    text_encoder: z.string(),
    denoiser: z.string(),
    /** A few-step student of the denoiser, with the same inputs, that `--draft` runs. */
    draft_denoiser: z.string().optional(),
    vae_encoder: z.string().optional(),
    vae_decoder: z.string(),
  }),
  tokenizer: tokenizerSchema,
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
    /** The guidance the draft denoiser was distilled for (1: no unconditional pass); `guidance` when absent. */
    draft_guidance: z.number().nonnegative().optional(),
    scheduler: z.record(z.string(), z.unknown()),
  }),
  prediction: z.enum(['flow_prediction', 'epsilon', 'v_prediction']),
  latent_rgb: z.array(z.array(z.number()).length(3)).optional(),
  styles: z.array(z.string()).optional(),
});

type Manifest = z.infer<typeof manifestSchema>;

function tokenizerSpec(m: Manifest, resolve: (relative: string) => string): TokenizerSpec {
  const t = m.tokenizer;
  if (t.kind === 'wordpiece') {
    const file = resolve(t.file);
    return { kind: 'json', file, config: undefined, maxLength: t.max_length, pad: t.pad_token_id };
  }
  const common = { maxLength: t.max_length, pad: t.pad_token_id };
  return { kind: 'clip', vocab: resolve(t.vocab), merges: resolve(t.merges), ...common };
}

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
      ...(m.components.draft_denoiser ? { draftDenoiser: resolve(m.components.draft_denoiser) } : {}),
      vaeEncoder: m.components.vae_encoder ? resolve(m.components.vae_encoder) : undefined,
      vaeDecoder: resolve(m.components.vae_decoder),
    },
    tokenizers: { tokenizer: tokenizerSpec(m, resolve) },
    scheduler: checkScheduler(scheduler, file),
    flow: m.prediction === 'flow_prediction',
    latent: m.latent,
    nativeSize: m.native_size,
    sizeMultiple: m.size_multiple ?? m.latent.downscale,
    defaults: {
      steps: m.defaults.steps,
      guidance: m.defaults.guidance,
      ...(m.defaults.draft_steps ? { draftSteps: m.defaults.draft_steps } : {}),
      ...(m.defaults.draft_guidance !== undefined ? { draftGuidance: m.defaults.draft_guidance } : {}),
    },
    latentRgb: m.latent_rgb,
    license: m.license,
    styles: m.styles ?? [],
    options: m.tokenizer.kind === 'wordpiece' ? { sentenceEncoder: true } : {},
  };
}

/** The sentence encoder's outputs: per-token states and the pooled sentence vector. */
const SENTENCE_OUTPUTS = ['token_states', 'sentence'] as const;

/**
 * One text through the sentence encoder at its own length: `encoder_hidden_states` [1, L, D] holds its
 * token states in rows 0…n−1 and zeros after (L = the tokenizer's max_length, as in training), and
 * `pooled_projections` [1, D] its sentence vector.
 */
async function encodeSentence(text: TextEncoders, spec: ModelSpec, words: string): Promise<Conditioning> {
  const file = spec.files.textEncoder;
  const out = await encodeUnpadded(text, file, spec.tokenizers.tokenizer, words);
  const missing = SENTENCE_OUTPUTS.filter((name) => !out[name]);
  if (missing.length > 0)
    throw folderError(
      file,
      `has no output "${missing[0]}" (a sentence encoder has token_states and sentence)`,
    );
  return {
    encoder_hidden_states: zeroPadded(out.token_states!, spec.tokenizers.tokenizer.maxLength),
    pooled_projections: out.sentence!,
  };
}

/** [1, n, D] states as [1, length, D], rows n… zero. */
function zeroPadded(states: HostTensor, length: number): HostTensor {
  const width = states.dims[2]!;
  const data = new Float32Array(length * width);
  data.set((states.data as Float32Array).subarray(0, length * width));
  return { data, dims: [1, length, width] };
}

/** The prompt's (and, when guided, the negative prompt's) sentence-encoder conditioning. */
async function encodeSentencePrompt(
  text: TextEncoders,
  spec: ModelSpec,
  prompt: string,
  negative: string,
  guided: boolean,
): Promise<PromptConditioning> {
  const cond = await encodeSentence(text, spec, prompt);
  return { cond, uncond: guided ? await encodeSentence(text, spec, negative) : undefined };
}

/** flowbot's manifest models. */
export const flowbotManifest: ModelFamily = {
  id: 'flowbot',
  pipelineClasses: [],
  readSpec,
  guided: (_spec, guidance) => guidance > 1,
  encodePrompt: (text, spec, prompt, negative, guided) =>
    (spec.options.sentenceEncoder ? encodeSentencePrompt : encodeLastHiddenState)(
      text,
      spec,
      prompt,
      negative,
      guided,
    ),
  schedule: (scheduler, steps) => scheduler.setTimesteps(steps),
  denoiser: (model, spec, geometry) =>
    unetAdapter(
      model,
      geometry,
      spec.options.sentenceEncoder ? ['encoder_hidden_states', 'pooled_projections'] : undefined,
    ),
};
