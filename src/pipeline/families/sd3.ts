/**
 * Stable Diffusion 3 / 3.5 (Medium, Large, Large Turbo), as StableDiffusion3Pipeline runs it: an MMDiT
 * transformer on 16-channel latents, conditioned on the penultimate hidden states of CLIP-L and CLIP-G
 * (concatenated on the feature axis, zero-padded to T5's width) followed on the token axis by T5's
 * output, and on both CLIP text_embeds as the pooled vector. FlowMatch Euler with the folder's shift;
 * the timestep is the scheduler's (σ·1000); classifier-free guidance with the negative prompt.
 */
import { DiffusersFolder, numberIn } from '../folder.js';
import type { HostTensor } from '../onnx.js';
import type { TextEncoders } from '../text.js';
import { penultimateHiddenState } from '../text.js';
import { checkScheduler, distilled, flowSchedule } from './common.js';
import { fixedDim, isDynamic, outputOf, requireInputs, stack, timestepTensor } from './inputs.js';
import type { Conditioning, ModelFamily, ModelSpec, PromptConditioning } from './types.js';

/** T5 tokens SD3 encodes (the pipeline's max_sequence_length default). */
const T5_TOKENS = 256;

function readSpec(dir: string): ModelSpec {
  const folder = new DiffusersFolder(dir);
  const scheduler = checkScheduler(folder.schedulerConfig(), `${dir}/scheduler/scheduler_config.json`);
  const vae = folder.config('vae_decoder', 'vae');
  const transformer = folder.config('transformer');
  const native = numberIn(transformer, 'sample_size', 128) * 8;
  return {
    name: folder.name,
    dir,
    family: 'sd3',
    format: 'diffusers-onnx',
    files: {
      textEncoder: folder.onnx('text_encoder'),
      textEncoder2: folder.onnx('text_encoder_2'),
      textEncoder3: folder.onnx('text_encoder_3'),
      denoiser: folder.onnx('transformer'),
      vaeEncoder: folder.optionalOnnx('vae_encoder'),
      vaeDecoder: folder.onnx('vae_decoder'),
    },
    tokenizers: {
      tokenizer: folder.tokenizer('tokenizer', { maxLength: 77 }),
      tokenizer2: folder.tokenizer('tokenizer_2', { maxLength: 77 }),
      tokenizer3: folder.tokenizer('tokenizer_3', { maxLength: T5_TOKENS }),
    },
    scheduler,
    flow: true,
    latent: {
      channels: numberIn(vae, 'latent_channels', 16),
      downscale: 8,
      scale: numberIn(vae, 'scaling_factor', 1.5305),
      shift: numberIn(vae, 'shift_factor', 0.0609),
    },
    nativeSize: { width: native, height: native },
    sizeMultiple: 8 * numberIn(transformer, 'patch_size', 2),
    defaults: distilled(folder.name) ?? { steps: 28, guidance: 4.5 },
    latentRgb: undefined,
    license: undefined,
    styles: [],
    options: {},
  };
}

/** CLIP-L ‖ CLIP-G on the feature axis, zero-padded to T5's width, then T5's tokens after them. */
function jointSequence(clipL: HostTensor, clipG: HostTensor, t5: HostTensor): HostTensor {
  const [, clipTokens, dl] = clipL.dims as [number, number, number];
  const dg = clipG.dims[2]!;
  const [, t5Tokens, width] = t5.dims as [number, number, number];
  if (dl + dg > width) {
    throw new Error(`CLIP widths ${dl} + ${dg} exceed the T5 width ${width}`);
  }
  const out = new Float32Array((clipTokens + t5Tokens) * width);
  for (let s = 0; s < clipTokens; s++) {
    out.set((clipL.data as Float32Array).subarray(s * dl, (s + 1) * dl), s * width);
    out.set((clipG.data as Float32Array).subarray(s * dg, (s + 1) * dg), s * width + dl);
  }
  out.set(t5.data as Float32Array, clipTokens * width);
  return { data: out, dims: [1, clipTokens + t5Tokens, width] };
}

function concatPooled(a: HostTensor, b: HostTensor): HostTensor {
  const out = new Float32Array(a.data.length + b.data.length);
  out.set(a.data as Float32Array);
  out.set(b.data as Float32Array, a.data.length);
  return { data: out, dims: [1, out.length] };
}

async function encodePrompt(
  text: TextEncoders,
  spec: ModelSpec,
  prompt: string,
  negative: string,
  guided: boolean,
): Promise<PromptConditioning> {
  const texts = guided ? [prompt, negative] : [prompt];
  const clip = (file: string, tokenizer: typeof spec.tokenizers.tokenizer) =>
    text.encode(file, tokenizer, texts, (m) => [penultimateHiddenState(m), 'text_embeds']);
  const clipL = await clip(spec.files.textEncoder, spec.tokenizers.tokenizer);
  const clipG = await clip(spec.files.textEncoder2!, spec.tokenizers.tokenizer2!);
  const t5 = await text.encode(spec.files.textEncoder3!, spec.tokenizers.tokenizer3!, texts, () => [
    'last_hidden_state',
  ]);
  const conditioning = texts.map(
    (_, i): Conditioning => ({
      encoder_hidden_states: jointSequence(
        Object.values(clipL[i]!)[0]!,
        Object.values(clipG[i]!)[0]!,
        t5[i]!.last_hidden_state!,
      ),
      pooled_projections: concatPooled(clipL[i]!.text_embeds!, clipG[i]!.text_embeds!),
    }),
  );
  return { cond: conditioning[0]!, uncond: conditioning[1] };
}

/** SD3 / SD3.5. */
export const stableDiffusion3: ModelFamily = {
  id: 'sd3',
  pipelineClasses: [
    'StableDiffusion3Pipeline',
    'StableDiffusion3Img2ImgPipeline',
    'StableDiffusion3InpaintPipeline',
    'ORTStableDiffusion3Pipeline',
    'ORTStableDiffusion3Img2ImgPipeline',
    'ORTStableDiffusion3InpaintPipeline',
  ],
  readSpec,
  guided: (_spec, guidance) => guidance > 1,
  encodePrompt,
  img2imgStart: 'unrounded',
  schedule: (scheduler, steps, geometry) =>
    flowSchedule(scheduler, steps, {
      passSigmas: false,
      imageSeqLen: (geometry.height / 2) * (geometry.width / 2),
    }),
  denoiser: (model, _spec, geometry) => {
    const [sample, , , timestep] = requireInputs(model, [
      'hidden_states',
      'encoder_hidden_states',
      'pooled_projections',
      'timestep',
    ]);
    const inChannels = fixedDim(model, sample!, 1, 'channel count');
    return {
      inChannels,
      batchDynamic: isDynamic(sample!.shape[0]),
      feeds: (data, batch, t, conditions) => ({
        hidden_states: { data, dims: [batch, inChannels, geometry.height, geometry.width] },
        encoder_hidden_states: stack(conditions, 'encoder_hidden_states'),
        pooled_projections: stack(conditions, 'pooled_projections'),
        timestep: timestepTensor(timestep!, t, batch),
      }),
      prediction: (outputs) => outputOf(model, outputs, 'out_hidden_states').data as Float32Array,
    };
  },
};
