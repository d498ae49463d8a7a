/**
 * SDXL (and Turbo, Lightning and fine-tunes), as StableDiffusionXLPipeline runs it: the penultimate
 * hidden states of both CLIP encoders concatenated on the feature axis, text_encoder_2's text_embeds
 * as the pooled vector, and `time_ids` = original size, crop top-left (0, 0), target size.
 */
import { DiffusersFolder, numberIn } from '../folder.js';
import type { HostTensor } from '../onnx.js';
import type { TextEncoders } from '../text.js';
import { penultimateHiddenState } from '../text.js';
import { checkScheduler, distilled, distilledScheduler, unetAdapter, unetSizeMultiple } from './common.js';
import { repeat } from './inputs.js';
import type { Conditioning, ModelFamily, ModelSpec, PromptConditioning } from './types.js';

function readSpec(dir: string): ModelSpec {
  const folder = new DiffusersFolder(dir);
  const scheduler = checkScheduler(folder.schedulerConfig(), `${dir}/scheduler/scheduler_config.json`);
  const vae = folder.config('vae_decoder', 'vae');
  const native = numberIn(folder.config('unet'), 'sample_size', 128) * 8;
  const fewSteps = distilled(folder.name);
  const forceZeros = folder.index.force_zeros_for_empty_prompt;
  return {
    name: folder.name,
    dir,
    family: 'sdxl',
    format: 'diffusers-onnx',
    files: {
      textEncoder: folder.onnx('text_encoder'),
      textEncoder2: folder.onnx('text_encoder_2'),
      denoiser: folder.onnx('unet'),
      vaeEncoder: folder.optionalOnnx('vae_encoder'),
      vaeDecoder: folder.onnx('vae_decoder'),
    },
    tokenizers: {
      tokenizer: folder.tokenizer('tokenizer', { maxLength: 77 }),
      tokenizer2: folder.tokenizer('tokenizer_2', { maxLength: 77 }),
    },
    scheduler: fewSteps ? distilledScheduler(scheduler) : scheduler,
    flow: false,
    latent: {
      channels: numberIn(vae, 'latent_channels', 4),
      downscale: 8,
      scale: numberIn(vae, 'scaling_factor', 0.13025),
      shift: 0,
    },
    nativeSize: { width: native, height: native },
    sizeMultiple: unetSizeMultiple(folder, 3),
    defaults: fewSteps ?? { steps: 25, guidance: 6 },
    latentRgb: undefined,
    license: undefined,
    styles: [],
    options: { forceZerosForEmptyPrompt: forceZeros === undefined ? true : forceZeros === true },
  };
}

/** Concatenates two [1, S, D] tensors on the feature axis. */
function concatFeatures(a: HostTensor, b: HostTensor): HostTensor {
  const [, tokens, da] = a.dims as [number, number, number];
  const db = b.dims[2]!;
  const out = new Float32Array(tokens * (da + db));
  for (let s = 0; s < tokens; s++) {
    out.set((a.data as Float32Array).subarray(s * da, (s + 1) * da), s * (da + db));
    out.set((b.data as Float32Array).subarray(s * db, (s + 1) * db), s * (da + db) + da);
  }
  return { data: out, dims: [1, tokens, da + db] };
}

async function encodePrompt(
  text: TextEncoders,
  spec: ModelSpec,
  prompt: string,
  negative: string,
  guided: boolean,
): Promise<PromptConditioning> {
  const zeroNegative = guided && negative.trim() === '' && spec.options.forceZerosForEmptyPrompt === true;
  const texts = guided && !zeroNegative ? [prompt, negative] : [prompt];
  const first = await text.encode(spec.files.textEncoder, spec.tokenizers.tokenizer, texts, (m) => [
    penultimateHiddenState(m),
  ]);
  const second = await text.encode(spec.files.textEncoder2!, spec.tokenizers.tokenizer2!, texts, (m) => [
    penultimateHiddenState(m),
    'text_embeds',
  ]);
  const conditioning = texts.map(
    (_, i): Conditioning => ({
      encoder_hidden_states: concatFeatures(Object.values(first[i]!)[0]!, Object.values(second[i]!)[0]!),
      text_embeds: second[i]!.text_embeds!,
    }),
  );
  const cond = conditioning[0]!;
  if (!guided) return { cond, uncond: undefined };
  const zeros = (t: HostTensor): HostTensor => ({ data: new Float32Array(t.data.length), dims: t.dims });
  const uncond = zeroNegative
    ? { encoder_hidden_states: zeros(cond.encoder_hidden_states!), text_embeds: zeros(cond.text_embeds!) }
    : conditioning[1]!;
  return { cond, uncond };
}

/** SDXL. */
export const stableDiffusionXL: ModelFamily = {
  id: 'sdxl',
  pipelineClasses: [
    'StableDiffusionXLPipeline',
    'StableDiffusionXLImg2ImgPipeline',
    'StableDiffusionXLInpaintPipeline',
    'ORTStableDiffusionXLPipeline',
    'ORTStableDiffusionXLImg2ImgPipeline',
    'ORTStableDiffusionXLInpaintPipeline',
  ],
  readSpec,
  guided: (_spec, guidance) => guidance > 1,
  encodePrompt,
  schedule: (scheduler, steps) => scheduler.setTimesteps(steps),
  denoiser: (model, _spec, geometry) => {
    const { imageHeight: h, imageWidth: w } = geometry;
    const timeIds: HostTensor = { data: Float32Array.from([h, w, 0, 0, h, w]), dims: [1, 6] };
    return unetAdapter(model, geometry, ['encoder_hidden_states', 'text_embeds'], (batch) => ({
      time_ids: repeat(timeIds, batch),
    }));
  },
};
