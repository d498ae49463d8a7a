/**
 * Stable Diffusion 1.x / 2.x (and their Turbo and LCM distillations) in optimum's ONNX layout: one CLIP
 * encoder whose last_hidden_state conditions a UNet predicting ε or v.
 */
import { DiffusersFolder, numberIn } from '../folder.js';
import {
  checkScheduler,
  distilled,
  distilledScheduler,
  encodeLastHiddenState,
  unetAdapter,
  unetSizeMultiple,
} from './common.js';
import type { ModelFamily, ModelSpec } from './types.js';

function readSpec(dir: string): ModelSpec {
  const folder = new DiffusersFolder(dir);
  const schedulerFile = `${dir}/scheduler/scheduler_config.json`;
  const scheduler = checkScheduler(folder.schedulerConfig(), schedulerFile);
  const vae = folder.config('vae_decoder', 'vae');
  const vPrediction = scheduler.prediction_type === 'v_prediction';
  const native = numberIn(folder.config('unet'), 'sample_size', vPrediction ? 96 : 64) * 8;
  const fewSteps = distilled(folder.name);
  return {
    name: folder.name,
    dir,
    family: 'sd',
    format: 'diffusers-onnx',
    files: {
      textEncoder: folder.onnx('text_encoder'),
      denoiser: folder.onnx('unet'),
      vaeEncoder: folder.optionalOnnx('vae_encoder'),
      vaeDecoder: folder.onnx('vae_decoder'),
    },
    tokenizers: { tokenizer: folder.tokenizer('tokenizer', { maxLength: 77 }) },
    scheduler: fewSteps ? distilledScheduler(scheduler) : scheduler,
    flow: false,
    latent: {
      channels: numberIn(vae, 'latent_channels', 4),
      downscale: 8,
      scale: numberIn(vae, 'scaling_factor', 0.18215),
      shift: 0,
    },
    nativeSize: { width: native, height: native },
    sizeMultiple: unetSizeMultiple(folder, 4),
    defaults: fewSteps ?? { steps: 25, guidance: 7.5 },
    latentRgb: SD_LATENT_RGB,
    license: undefined,
    styles: [],
    options: {},
  };
}

/** Stable Diffusion 1.x latent → RGB approximation, for previews. */
const SD_LATENT_RGB = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

/** SD 1.x / 2.x. */
export const stableDiffusion: ModelFamily = {
  id: 'sd',
  pipelineClasses: [
    'OnnxStableDiffusionPipeline',
    'OnnxStableDiffusionImg2ImgPipeline',
    'OnnxStableDiffusionInpaintPipeline',
    'ORTStableDiffusionPipeline',
    'ORTStableDiffusionImg2ImgPipeline',
    'ORTStableDiffusionInpaintPipeline',
    'ORTLatentConsistencyModelPipeline',
    'StableDiffusionPipeline',
    'StableDiffusionImg2ImgPipeline',
    'StableDiffusionInpaintPipeline',
    'LatentConsistencyModelPipeline',
  ],
  readSpec,
  guided: (_spec, guidance) => guidance > 1,
  encodePrompt: encodeLastHiddenState,
  schedule: (scheduler, steps) => scheduler.setTimesteps(steps),
  denoiser: (model, _spec, geometry) => unetAdapter(model, geometry),
};
