import { ScheduleWalker } from './base.js';
import {
  ConfigReader,
  checkLengths,
  f32,
  linspace,
  type Sample,
  type Scheduler,
  type SchedulerConfig,
  type StepResult,
  sameType,
} from './common.js';

/**
 * How a pipeline drives `setTimesteps`: FLUX passes its own σ list (linspace(1, 1/N, N)) and, with dynamic
 * shifting, `mu` from the image's sequence length; SD3 passes neither.
 */
export interface FlowScheduleOptions {
  readonly sigmas?: readonly number[];
  readonly mu?: number;
}

/**
 * Euler sampling of a rectified-flow model, as diffusers' FlowMatchEulerDiscreteScheduler: the model
 * predicts the velocity v = ε − x0 and x_{σ'} = x_σ + (σ' − σ)·v. Timesteps are σ·1000.
 */
export class FlowMatchEulerScheduler extends ScheduleWalker implements Scheduler {
  readonly className = 'FlowMatchEulerDiscreteScheduler';
  readonly order = 1;
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  readonly predictionType = 'flow_prediction' as const;
  sigmas: number[];
  private readonly trainSteps: number;
  private readonly shift: number;
  private readonly sigmaMax: number;
  private readonly sigmaMin: number;
  /** FLUX.1 dev: σ is shifted by exp(mu) / (exp(mu) + (1/σ − 1)), mu given per image size. */
  readonly dynamicShifting: boolean;
  private readonly shiftParams: {
    readonly baseSeqLen: number;
    readonly maxSeqLen: number;
    readonly baseShift: number;
    readonly maxShift: number;
  };

  constructor(config: SchedulerConfig) {
    super();
    const reader = new ConfigReader(config, this.className);
    this.trainSteps = reader.number('num_train_timesteps', 1000);
    this.shift = reader.number('shift', 1);
    this.dynamicShifting = reader.boolean('use_dynamic_shifting', false);
    this.shiftParams = {
      baseSeqLen: reader.number('base_image_seq_len', 256),
      maxSeqLen: reader.number('max_image_seq_len', 4096),
      baseShift: reader.number('base_shift', 0.5),
      maxShift: reader.number('max_shift', 1.15),
    };
    const n = this.trainSteps;
    // The training schedule in float32: t = n..1, s = t / n, shifted statically unless shifting is dynamic.
    const train = Array.from({ length: n }, (_, i) => {
      const s = f32(f32(n - i) / n);
      return this.dynamicShifting ? s : this.staticShift(s);
    });
    this.sigmaMax = train[0]!;
    this.sigmaMin = train[n - 1]!;
    this.sigmas = train.concat([0]);
    this.timesteps = train.map((s) => f32(s * n));
  }

  /**
   * diffusers' set_timesteps. Without `sigmas` the schedule runs from the (shifted) training endpoints,
   * as SD3 drives it; with them (FLUX) those σ are used. Then the shift applies: dynamic with `mu`, or
   * static.
   */
  setTimesteps(steps: number, options: FlowScheduleOptions = {}): void {
    const n = this.trainSteps;
    const raw = options.sigmas
      ? options.sigmas.map(f32)
      : linspace(this.sigmaMax * n, this.sigmaMin * n, steps).map((t) => t / n);
    let sigmas: number[];
    if (this.dynamicShifting) {
      if (options.mu === undefined) {
        throw new Error(
          'FlowMatchEulerDiscreteScheduler: use_dynamic_shifting needs mu (from the image size)',
        );
      }
      const e = Math.exp(options.mu);
      sigmas = raw.map((s) => f32(e / f32(e + f32(f32(1 / s) - 1))));
    } else {
      sigmas = raw.map((s) => f32((this.shift * s) / (1 + (this.shift - 1) * s)));
    }
    this.timesteps = sigmas.map((s) => f32(s * n));
    this.sigmas = sigmas.concat([0]);
    this.resetWalk();
  }

  /**
   * diffusers' calculate_shift: mu grows linearly with the image's token count, from base_shift at
   * base_image_seq_len to max_shift at max_image_seq_len.
   */
  muFor(imageSeqLen: number): number {
    const { baseSeqLen, maxSeqLen, baseShift, maxShift } = this.shiftParams;
    const slope = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
    return imageSeqLen * slope + (baseShift - slope * baseSeqLen);
  }

  private staticShift(s: number): number {
    return f32(f32(this.shift * s) / f32(1 + f32((this.shift - 1) * s)));
  }

  scaleModelInput<T extends Sample>(sample: T): T {
    return sample;
  }

  step<T extends Sample>(modelOutput: Sample, t: number, sample: T): StepResult<T> {
    checkLengths(sample, modelOutput, 'flow-match step');
    const index = this.currentIndex(t);
    const sigma = this.sigmas[index]!;
    const dt = f32(this.sigmas[index + 1]! - sigma);
    const prev = sameType(sample);
    const x0 = sameType(sample);
    for (let i = 0; i < sample.length; i++) {
      const x = f32(sample[i]!);
      prev[i] = x + dt * modelOutput[i]!;
      x0[i] = x - sigma * modelOutput[i]!;
    }
    this.stepIndex = index + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** diffusers' scale_noise: x_σ = σ·ε + (1 − σ)·x0. */
  addNoise<T extends Sample>(original: T, noise: Sample, t: number): T {
    checkLengths(original, noise, 'scale_noise');
    const sigma = this.sigmas[this.noiseIndex(t)]!;
    const out = sameType(original);
    for (let i = 0; i < original.length; i++) out[i] = sigma * noise[i]! + (1 - sigma) * original[i]!;
    return out;
  }
}
