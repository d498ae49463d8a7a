/**
 * Pieces several families share: scheduler configs we can run, few-step defaults of distilled
 * checkpoints, the UNet's inputs, and the CLIP encoding of SD 1.x/2.x and flowbot's model.
 */
import { createLogger } from '../../log.js';
import type { DiffusersFolder } from '../folder.js';
import type { OnnxModel } from '../onnx.js';
import { linspace } from '../schedulers/common.js';
import { FlowMatchEulerScheduler } from '../schedulers/flowmatch.js';
import {
  FOLDER_SCHEDULER_KEY,
  runsAsConfigured,
  type Scheduler,
  type SchedulerConfig,
} from '../schedulers/index.js';
import type { TextEncoders } from '../text.js';
import { fixedDim, isDynamic, outputOf, requireInputs, stack, timestepTensor } from './inputs.js';
import type {
  Conditioning,
  DenoiserAdapter,
  LatentGeometry,
  ModelSpec,
  PromptConditioning,
} from './types.js';

const log = createLogger('model');

/**
 * The config itself when we run its scheduler as configured; otherwise Euler on the same noise
 * schedule, with {@link FOLDER_SCHEDULER_KEY} naming what the folder asked for (results and `info` say so).
 */
export function checkScheduler(config: SchedulerConfig, file: string): SchedulerConfig {
  if (runsAsConfigured(config)) return config;
  const asked = describeScheduler(config);
  log.info('scheduler not implemented; using EulerDiscreteScheduler with the same noise schedule', {
    file,
    scheduler: asked,
  });
  return { ...config, _class_name: 'EulerDiscreteScheduler', [FOLDER_SCHEDULER_KEY]: asked };
}

/** The scheduler a config names, with the variant that made it unsupported ("+prk": PNDM's Runge–Kutta steps). */
function describeScheduler(config: SchedulerConfig): string {
  const className = String(config._class_name);
  return className === 'PNDMScheduler' && config.skip_prk_steps !== true
    ? 'PNDMScheduler+prk'
    : className.replace(/[^A-Za-z0-9_.:+-]/g, '');
}

/**
 * Few-step distilled checkpoints, recognised by their folder name: Turbo (SD, SDXL, SD3.5 Large) and
 * SDXL-Lightning sample in a handful of steps without guidance.
 */
export function distilled(name: string): { steps: number; guidance: number } | undefined {
  if (/turbo/i.test(name)) return { steps: 2, guidance: 0 };
  if (/lightning/i.test(name)) return { steps: 4, guidance: 0 };
  return undefined;
}

/** Diffusion schedulers of distilled checkpoints sample on trailing timesteps with Euler. */
export function distilledScheduler(scheduler: SchedulerConfig): SchedulerConfig {
  return { ...scheduler, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing' };
}

/** Pixel multiple of a UNet: the VAE's 8 times one halving per down block. */
export function unetSizeMultiple(folder: DiffusersFolder, fallbackBlocks: number): number {
  const blocks = folder.config('unet').block_out_channels;
  const count = Array.isArray(blocks) && blocks.length > 0 ? blocks.length : fallbackBlocks;
  return 8 * 2 ** (count - 1);
}

/** SD 1.x/2.x and flowbot: the CLIP encoder's last_hidden_state conditions the UNet. */
export async function encodeLastHiddenState(
  text: TextEncoders,
  spec: ModelSpec,
  prompt: string,
  negative: string,
  guided: boolean,
): Promise<PromptConditioning> {
  const pick = (model: OnnxModel) => [
    model.output('last_hidden_state') ? 'last_hidden_state' : model.outputs[0]!.name,
  ];
  const outputs = await text.encode(
    spec.files.textEncoder,
    spec.tokenizers.tokenizer,
    guided ? [prompt, negative] : [prompt],
    pick,
  );
  const asConditioning = (out: (typeof outputs)[number]): Conditioning => ({
    encoder_hidden_states: Object.values(out)[0]!,
  });
  return {
    cond: asConditioning(outputs[0]!),
    uncond: outputs[1] ? asConditioning(outputs[1]) : undefined,
  };
}

/**
 * A UNet (`sample`, `timestep`, `encoder_hidden_states` and the named extra conditioning) predicting
 * `out_sample`; `extra` adds inputs that are the same for every image (SDXL's time_ids).
 */
export function unetAdapter(
  model: OnnxModel,
  geometry: LatentGeometry,
  conditioning: readonly string[] = ['encoder_hidden_states'],
  extra: (batch: number) => Conditioning = () => ({}),
): DenoiserAdapter {
  const [sample, timestep] = requireInputs(model, ['sample', 'timestep', ...conditioning]);
  const inChannels = fixedDim(model, sample!, 1, 'channel count');
  return {
    inChannels,
    batchDynamic: isDynamic(sample!.shape[0]),
    feeds: (data, batch, t, conditions) => {
      const feeds: Record<string, (typeof conditions)[number][string]> = {
        sample: { data, dims: [batch, inChannels, geometry.height, geometry.width] },
        timestep: timestepTensor(timestep!, t, batch),
        ...extra(batch),
      };
      for (const name of conditioning) feeds[name] = stack(conditions, name);
      return feeds;
    },
    prediction: (outputs) => outputOf(model, outputs, 'out_sample').data as Float32Array,
  };
}

/**
 * FlowMatch timesteps as the SD3 and FLUX pipelines set them: FLUX passes σ = linspace(1, 1/N, N);
 * with dynamic shifting, `mu` comes from the image's token count. Other schedulers take the step count.
 */
export function flowSchedule(
  scheduler: Scheduler,
  steps: number,
  options: { readonly passSigmas: boolean; readonly imageSeqLen: number },
): void {
  if (!(scheduler instanceof FlowMatchEulerScheduler)) {
    scheduler.setTimesteps(steps);
    return;
  }
  const sigmas = options.passSigmas ? linspace(1, 1 / steps, steps) : undefined;
  scheduler.setTimesteps(steps, {
    ...(sigmas ? { sigmas } : {}),
    ...(scheduler.dynamicShifting ? { mu: scheduler.muFor(options.imageSeqLen) } : {}),
  });
}
