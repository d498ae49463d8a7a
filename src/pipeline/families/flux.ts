/**
 * FLUX.1 schnell and dev, as FluxPipeline runs them: T5's output is `encoder_hidden_states` and CLIP's
 * pooler_output is `pooled_projections`; 16-channel latents are packed in 2×2 patches, with `img_ids`
 * (0, row, col) per patch and all-zero `txt_ids`; the timestep is σ (t/1000). Guidance-distilled dev
 * takes the guidance value as an input, and neither runs classifier-free guidance. FlowMatch with
 * σ = linspace(1, 1/N, N), shifted dynamically by the image's token count where the config says so.
 */
import { DiffusersFolder, numberIn } from '../folder.js';
import type { HostTensor, ValueInfo } from '../onnx.js';
import type { TextEncoders } from '../text.js';
import { checkScheduler, flowSchedule } from './common.js';
import { fixedDim, isDynamic, outputOf, requireInputs, stack, tensorFor, timestepTensor } from './inputs.js';
import type { LatentGeometry, ModelFamily, ModelSpec, PromptConditioning } from './types.js';

function readSpec(dir: string): ModelSpec {
  const folder = new DiffusersFolder(dir);
  const scheduler = checkScheduler(folder.schedulerConfig(), `${dir}/scheduler/scheduler_config.json`);
  const vae = folder.config('vae_decoder', 'vae');
  const guidanceEmbeds = folder.config('transformer').guidance_embeds === true;
  return {
    name: folder.name,
    dir,
    family: 'flux',
    format: 'diffusers-onnx',
    files: {
      textEncoder: folder.onnx('text_encoder'),
      textEncoder2: folder.onnx('text_encoder_2'),
      denoiser: folder.onnx('transformer'),
      vaeEncoder: folder.optionalOnnx('vae_encoder'),
      vaeDecoder: folder.onnx('vae_decoder'),
    },
    tokenizers: {
      tokenizer: folder.tokenizer('tokenizer', { maxLength: 77 }),
      // FLUX.1 dev was trained with 512 T5 tokens, schnell with 256.
      tokenizer2: folder.tokenizer('tokenizer_2', { maxLength: guidanceEmbeds ? 512 : 256 }),
    },
    scheduler,
    flow: true,
    latent: {
      channels: numberIn(vae, 'latent_channels', 16),
      downscale: 8,
      scale: numberIn(vae, 'scaling_factor', 0.3611),
      shift: numberIn(vae, 'shift_factor', 0.1159),
    },
    nativeSize: { width: 1024, height: 1024 },
    // The VAE's 8 times the 2×2 packing.
    sizeMultiple: 16,
    defaults: guidanceEmbeds ? { steps: 28, guidance: 3.5 } : { steps: 4, guidance: 0 },
    latentRgb: undefined,
    license: undefined,
    styles: [],
    options: { guidanceEmbeds },
  };
}

async function encodePrompt(
  text: TextEncoders,
  spec: ModelSpec,
  prompt: string,
): Promise<PromptConditioning> {
  const [clip] = await text.encode(spec.files.textEncoder, spec.tokenizers.tokenizer, [prompt], () => [
    'pooler_output',
  ]);
  const [t5] = await text.encode(spec.files.textEncoder2!, spec.tokenizers.tokenizer2!, [prompt], () => [
    'last_hidden_state',
  ]);
  return {
    cond: { encoder_hidden_states: t5!.last_hidden_state!, pooled_projections: clip!.pooler_output! },
    uncond: undefined,
  };
}

/**
 * The 2×2 patch order of one image: entry k of the packed [(h/2)·(w/2), 4C] tensor is this index of the
 * latents [C, h, w]; patch (i, j) holds channel c's pixel (2i + dy, 2j + dx) at c·4 + dy·2 + dx.
 * Built once per denoiser, since the geometry is fixed for every step.
 */
function patchOrder(channels: number, h: number, w: number): Int32Array {
  const order = new Int32Array(channels * h * w);
  let k = 0;
  for (let i = 0; i < h / 2; i++)
    for (let j = 0; j < w / 2; j++)
      for (let c = 0; c < channels; c++)
        for (let dy = 0; dy < 2; dy++)
          for (let dx = 0; dx < 2; dx++) order[k++] = (c * h + 2 * i + dy) * w + 2 * j + dx;
  return order;
}

/** [B, C, h, w] → [B, (h/2)·(w/2), 4C], image by image in the given {@link patchOrder}. */
function packLatents(latents: Float32Array, order: Int32Array): Float32Array {
  const out = new Float32Array(latents.length);
  for (let base = 0; base < latents.length; base += order.length)
    for (let k = 0; k < order.length; k++) out[base + k] = latents[base + order[k]!]!;
  return out;
}

/** The inverse of {@link packLatents}. */
function unpackLatents(packed: Float32Array, order: Int32Array): Float32Array {
  const out = new Float32Array(packed.length);
  for (let base = 0; base < packed.length; base += order.length)
    for (let k = 0; k < order.length; k++) out[base + order[k]!] = packed[base + k]!;
  return out;
}

/** Ids of `count` tokens in the rank the graph declares: [count, 3], or [batch, count, 3] (older exports). */
function idsTensor(info: ValueInfo, rows: ArrayLike<number>, count: number, batch: number): HostTensor {
  if (info.shape.length === 3) {
    const data = new Float32Array(batch * rows.length);
    for (let b = 0; b < batch; b++) data.set(rows, b * rows.length);
    return tensorFor(info, data, [batch, count, 3]);
  }
  return tensorFor(info, rows, [count, 3]);
}

/** img_ids: (0, row, col) for each 2×2 patch, row-major. */
function imageIds(geometry: LatentGeometry): Float32Array {
  const [ph, pw] = [geometry.height / 2, geometry.width / 2];
  const ids = new Float32Array(ph * pw * 3);
  for (let i = 0; i < ph; i++)
    for (let j = 0; j < pw; j++) {
      ids[(i * pw + j) * 3 + 1] = i;
      ids[(i * pw + j) * 3 + 2] = j;
    }
  return ids;
}

/** FLUX.1 schnell and dev. */
export const flux: ModelFamily = {
  id: 'flux',
  pipelineClasses: ['FluxPipeline', 'FluxImg2ImgPipeline', 'FluxInpaintPipeline', 'ORTFluxPipeline'],
  readSpec,
  guided: () => false,
  encodePrompt: (text, spec, prompt) => encodePrompt(text, spec, prompt),
  img2imgStart: 'unrounded',
  schedule: (scheduler, steps, geometry) =>
    flowSchedule(scheduler, steps, {
      passSigmas: true,
      imageSeqLen: (geometry.height / 2) * (geometry.width / 2),
    }),
  denoiser: (model, spec, geometry, guidance) => {
    const [sample, , , timestep, imgIds, txtIds] = requireInputs(model, [
      'hidden_states',
      'encoder_hidden_states',
      'pooled_projections',
      'timestep',
      'img_ids',
      'txt_ids',
    ]);
    const guidanceInput = model.input('guidance');
    const packedWidth = fixedDim(model, sample!, 2, 'packed channel count');
    const channels = spec.latent.channels;
    const { height: h, width: w } = geometry;
    const tokens = (h / 2) * (w / 2);
    const imageRows = imageIds(geometry);
    const order = patchOrder(channels, h, w);
    return {
      inChannels: packedWidth / 4,
      batchDynamic: isDynamic(sample!.shape[0]),
      feeds: (data, batch, t, conditions) => {
        const hidden = stack(conditions, 'encoder_hidden_states');
        const textTokens = hidden.dims[1]!;
        return {
          hidden_states: {
            data: packLatents(data, order),
            dims: [batch, tokens, packedWidth],
          },
          encoder_hidden_states: hidden,
          pooled_projections: stack(conditions, 'pooled_projections'),
          timestep: timestepTensor(timestep!, t / 1000, batch),
          img_ids: idsTensor(imgIds!, imageRows, tokens, batch),
          txt_ids: idsTensor(txtIds!, new Float32Array(textTokens * 3), textTokens, batch),
          ...(guidanceInput ? { guidance: timestepTensor(guidanceInput, guidance, batch) } : {}),
        };
      },
      prediction: (outputs) =>
        unpackLatents(outputOf(model, outputs, 'out_hidden_states').data as Float32Array, order),
    };
  },
};
