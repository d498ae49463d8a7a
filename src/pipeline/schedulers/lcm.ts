import { ScheduleWalker } from './base.js';
import {
  alphasCumprod,
  ConfigReader,
  checkLengths,
  f32,
  linspace,
  type PredictionType,
  type Sample,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepResult,
  sameType,
} from './common.js';
import { ddpmAddNoise } from './ddim.js';

/** Latent Consistency Model sampling (Luo et al. 2023), as diffusers' LCMScheduler. */
export class LcmScheduler extends ScheduleWalker implements Scheduler {
  readonly className = 'LCMScheduler';
  readonly order = 1;
  readonly stochastic = true;
  readonly initNoiseSigma = 1;
  readonly sigmas = undefined;
  readonly predictionType: PredictionType;
  private readonly acp: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly originalSteps: number;
  private readonly timestepScaling: number;

  constructor(config: SchedulerConfig) {
    super();
    const reader = new ConfigReader(config, this.className);
    this.acp = alphasCumprod(reader);
    this.finalAlphaCumprod = reader.boolean('set_alpha_to_one', true) ? 1 : this.acp[0]!;
    this.predictionType = reader.choice(
      'prediction_type',
      ['epsilon', 'v_prediction', 'sample'] as const,
      'epsilon',
    );
    this.originalSteps = reader.number('original_inference_steps', 50);
    this.timestepScaling = reader.number('timestep_scaling', 10);
  }

  setTimesteps(n: number, strength = 1): void {
    const k = Math.floor(this.acp.length / this.originalSteps);
    const origin = Array.from(
      { length: Math.floor(this.originalSteps * strength) },
      (_, i) => (i + 1) * k - 1,
    );
    if (n > origin.length) {
      throw new Error(
        `LCMScheduler: at most ${origin.length} steps are possible with original_inference_steps ${this.originalSteps}, but ${n} were asked for`,
      );
    }
    const reversed = [...origin].reverse();
    this.timesteps = linspace(0, origin.length, n, false).map((x) => reversed[Math.floor(x)]!);
    this.resetWalk();
  }

  scaleModelInput<T extends Sample>(sample: T): T {
    return sample;
  }

  step<T extends Sample>(
    modelOutput: Sample,
    t: number,
    sample: T,
    options: StepOptions = {},
  ): StepResult<T> {
    checkLengths(sample, modelOutput, 'LCM step');
    const index = this.currentIndex(t);
    const last = index === this.timesteps.length - 1;
    if (!last && !options.noise) throw new Error('LCM needs noise for every step but the last');
    const prevT = last ? t : this.timesteps[index + 1]!;
    const a = this.acp[t]!;
    const aPrev = prevT >= 0 ? this.acp[prevT]! : this.finalAlphaCumprod;
    const sqrtA = f32(Math.sqrt(a));
    const sqrtB = f32(Math.sqrt(f32(1 - a)));
    const scaled = t * this.timestepScaling;
    const cSkip = 0.25 / (scaled * scaled + 0.25);
    const cOut = scaled / Math.sqrt(scaled * scaled + 0.25);
    const prev = sameType(sample);
    const denoised = sameType(sample);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      const original =
        this.predictionType === 'epsilon'
          ? (x - sqrtB * m) / sqrtA
          : this.predictionType === 'sample'
            ? m
            : sqrtA * x - sqrtB * m;
      const d = cOut * original + cSkip * x;
      denoised[i] = d;
      prev[i] = last ? d : f32(Math.sqrt(aPrev)) * d + f32(Math.sqrt(f32(1 - aPrev))) * options.noise![i]!;
    }
    this.stepIndex = index + 1;
    return { prevSample: prev, predOriginalSample: denoised };
  }

  addNoise<T extends Sample>(original: T, noise: Sample, t: number): T {
    return ddpmAddNoise(this.acp, original, noise, t);
  }
}
