import { ScheduleWalker } from './base.js';
import {
  alphasCumprod,
  ConfigReader,
  checkLengths,
  f32,
  type PredictionType,
  type Sample,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepResult,
  sameType,
  spacedTimesteps,
} from './common.js';

/** DDIM (Song et al. 2020), as diffusers' DDIMScheduler, with eta. */
export class DdimScheduler extends ScheduleWalker implements Scheduler {
  readonly className = 'DDIMScheduler';
  readonly order = 1;
  readonly predictionType: PredictionType;
  readonly initNoiseSigma = 1;
  readonly sigmas = undefined;
  private readonly acp: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly trainSteps: number;
  private readonly spacing;
  private readonly stepsOffset: number;
  private readonly clipSample: boolean;
  private readonly clipRange: number;
  private readonly defaultEta: number;
  private inferenceSteps = 0;

  get stochastic(): boolean {
    return this.defaultEta > 0;
  }

  constructor(config: SchedulerConfig, eta = 0) {
    super();
    const reader = new ConfigReader(config, this.className);
    this.acp = alphasCumprod(reader);
    this.trainSteps = this.acp.length;
    this.finalAlphaCumprod = reader.boolean('set_alpha_to_one', true) ? 1 : this.acp[0]!;
    this.predictionType = reader.choice(
      'prediction_type',
      ['epsilon', 'v_prediction', 'sample'] as const,
      'epsilon',
    );
    this.spacing = reader.choice('timestep_spacing', ['linspace', 'leading', 'trailing'] as const, 'leading');
    this.stepsOffset = reader.number('steps_offset', 0);
    this.clipSample = reader.boolean('clip_sample', true);
    this.clipRange = reader.number('clip_sample_range', 1);
    this.defaultEta = eta;
  }

  setTimesteps(n: number): void {
    this.inferenceSteps = n;
    const raw = spacedTimesteps(
      this.spacing,
      this.trainSteps,
      n,
      this.spacing === 'leading' ? this.stepsOffset : 0,
    );
    this.timesteps = raw.map((t) => Math.round(t));
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
    checkLengths(sample, modelOutput, 'DDIM step');
    const eta = options.eta ?? this.defaultEta;
    const prevT = t - Math.floor(this.trainSteps / this.inferenceSteps);
    const a = this.acp[t]!;
    const aPrev = prevT >= 0 ? this.acp[prevT]! : this.finalAlphaCumprod;
    const b = f32(1 - a);
    const bPrev = f32(1 - aPrev);
    const sqrtA = f32(Math.sqrt(a));
    const sqrtB = f32(Math.sqrt(b));
    const variance = f32(f32(bPrev / b) * f32(1 - f32(a / aPrev)));
    const std = f32(eta * f32(Math.sqrt(variance)));
    const direction = f32(Math.sqrt(f32(f32(1 - aPrev) - f32(std * std))));
    const sqrtAPrev = f32(Math.sqrt(aPrev));
    if (eta > 0 && !options.noise) throw new Error('DDIM with eta > 0 needs noise');
    const prev = sameType(sample);
    const x0 = sameType(sample);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      let original: number;
      let epsilon: number;
      if (this.predictionType === 'epsilon') {
        original = (x - sqrtB * m) / sqrtA;
        epsilon = m;
      } else if (this.predictionType === 'sample') {
        original = m;
        epsilon = (x - sqrtA * original) / sqrtB;
      } else {
        original = sqrtA * x - sqrtB * m;
        epsilon = sqrtA * m + sqrtB * x;
      }
      if (this.clipSample) original = Math.min(this.clipRange, Math.max(-this.clipRange, original));
      let value = sqrtAPrev * original + direction * epsilon;
      if (eta > 0) value += std * options.noise![i]!;
      prev[i] = value;
      x0[i] = original;
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  addNoise<T extends Sample>(original: T, noise: Sample, t: number): T {
    return ddpmAddNoise(this.acp, original, noise, t);
  }
}

/** DDPM forward noising: sqrt(ᾱ)·x0 + sqrt(1 − ᾱ)·ε (ᾱ cast to the sample's precision first, as diffusers does). */
export function ddpmAddNoise<T extends Sample>(acp: Float64Array, original: T, noise: Sample, t: number): T {
  checkLengths(original, noise, 'add_noise');
  const a = acp[t];
  if (a === undefined) throw new Error(`add_noise: timestep ${t} is outside 0–${acp.length - 1}`);
  const single = original instanceof Float32Array;
  const sqrtA = single ? f32(Math.sqrt(a)) : Math.sqrt(a);
  const sqrtB = single ? f32(Math.sqrt(f32(1 - a))) : Math.sqrt(1 - a);
  const out = sameType(original);
  for (let i = 0; i < original.length; i++) out[i] = sqrtA * original[i]! + sqrtB * noise[i]!;
  return out;
}
