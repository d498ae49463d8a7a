import { ScheduleWalker } from './base.js';
import {
  alphasCumprod,
  ConfigReader,
  checkLengths,
  f32,
  interpIndex,
  karrasSigmas,
  type PredictionType,
  type Sample,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepResult,
  sameType,
  sigmaToT,
  spacedTimesteps,
  trainingSigmas,
} from './common.js';

/** The σ schedule shared by Euler and Euler ancestral (diffusers' EulerDiscreteScheduler.set_timesteps). */
abstract class SigmaSchedule extends ScheduleWalker {
  abstract readonly className: string;
  readonly order = 1;
  readonly predictionType: PredictionType;
  sigmas: number[];
  protected readonly trainSigmas: Float64Array;
  protected readonly spacing;
  private readonly stepsOffset: number;
  private readonly useKarras: boolean;
  private readonly trainSteps: number;

  constructor(config: SchedulerConfig, className: string) {
    super();
    const reader = new ConfigReader(config, className);
    const acp = alphasCumprod(reader);
    this.trainSteps = acp.length;
    this.trainSigmas = trainingSigmas(acp);
    this.predictionType = reader.choice(
      'prediction_type',
      ['epsilon', 'v_prediction', 'sample'] as const,
      'epsilon',
    );
    this.spacing = reader.choice(
      'timestep_spacing',
      ['linspace', 'leading', 'trailing'] as const,
      'linspace',
    );
    this.stepsOffset = reader.number('steps_offset', 0);
    this.useKarras = reader.boolean('use_karras_sigmas', false);
    this.sigmas = [...this.trainSigmas].reverse().concat([0]);
    this.timesteps = Array.from({ length: this.trainSteps }, (_, i) => this.trainSteps - 1 - i);
  }

  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.spacing === 'linspace' || this.spacing === 'trailing'
      ? max
      : f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  setTimesteps(n: number): void {
    let timesteps = spacedTimesteps(
      this.spacing,
      this.trainSteps,
      n,
      this.spacing === 'leading' ? this.stepsOffset : 0,
    ).map(f32);
    let sigmas = interpIndex(timesteps, this.trainSigmas);
    if (this.useKarras) {
      const logSigmas = Array.from(this.trainSigmas, Math.log);
      sigmas = karrasSigmas(sigmas[0]!, sigmas[sigmas.length - 1]!, n);
      timesteps = sigmas.map((sigma) => f32(sigmaToT(sigma, logSigmas)));
    }
    this.sigmas = sigmas.map(f32).concat([0]);
    this.timesteps = timesteps;
    this.resetWalk();
  }

  scaleModelInput<T extends Sample>(sample: T, t: number): T {
    const sigma = this.sigmas[this.currentIndex(t)]!;
    const scale = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    const out = sameType(sample);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i]! / scale;
    return out;
  }

  /** x0 estimate from the model output at noise level σ (sample already float32-rounded). */
  protected predictOriginal(x: number, m: number, sigma: number): number {
    if (this.predictionType === 'epsilon') return x - sigma * m;
    if (this.predictionType === 'sample') return m;
    const denom = f32(f32(sigma * sigma) + 1);
    return m * f32(-sigma / f32(Math.sqrt(denom))) + x / denom;
  }

  addNoise<T extends Sample>(original: T, noise: Sample, t: number): T {
    checkLengths(original, noise, 'add_noise');
    const sigma = this.sigmas[this.noiseIndex(t)]!;
    const out = sameType(original);
    for (let i = 0; i < original.length; i++) out[i] = original[i]! + noise[i]! * sigma;
    return out;
  }
}

/** Euler (Karras et al. 2022, Algorithm 2 without churn), as diffusers' EulerDiscreteScheduler. */
export class EulerScheduler extends SigmaSchedule implements Scheduler {
  readonly className = 'EulerDiscreteScheduler';
  readonly stochastic = false;

  constructor(config: SchedulerConfig) {
    super(config, 'EulerDiscreteScheduler');
  }

  step<T extends Sample>(modelOutput: Sample, t: number, sample: T): StepResult<T> {
    checkLengths(sample, modelOutput, 'Euler step');
    const index = this.currentIndex(t);
    const sigma = this.sigmas[index]!;
    const dt = f32(this.sigmas[index + 1]! - sigma);
    const prev = sameType(sample);
    const x0 = sameType(sample);
    for (let i = 0; i < sample.length; i++) {
      const x = f32(sample[i]!); // diffusers upcasts (here: rounds) the sample to float32
      const original = this.predictOriginal(x, modelOutput[i]!, sigma);
      prev[i] = x + ((x - original) / sigma) * dt;
      x0[i] = original;
    }
    this.stepIndex = index + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

/** Euler ancestral, as diffusers' EulerAncestralDiscreteScheduler: Euler to σ_down, plus fresh noise σ_up. */
export class EulerAncestralScheduler extends SigmaSchedule implements Scheduler {
  readonly className = 'EulerAncestralDiscreteScheduler';
  readonly stochastic = true;

  constructor(config: SchedulerConfig) {
    super(config, 'EulerAncestralDiscreteScheduler');
  }

  step<T extends Sample>(
    modelOutput: Sample,
    t: number,
    sample: T,
    options: StepOptions = {},
  ): StepResult<T> {
    checkLengths(sample, modelOutput, 'Euler ancestral step');
    if (!options.noise) throw new Error('Euler ancestral needs noise for every step');
    const index = this.currentIndex(t);
    const sigmaFrom = this.sigmas[index]!;
    const sigmaTo = this.sigmas[index + 1]!;
    const from2 = f32(sigmaFrom * sigmaFrom);
    const to2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigmaFrom);
    const prev = sameType(sample);
    const x0 = sameType(sample);
    for (let i = 0; i < sample.length; i++) {
      const x = f32(sample[i]!);
      const original = this.predictOriginal(x, modelOutput[i]!, sigmaFrom);
      prev[i] = x + ((x - original) / sigmaFrom) * dt + options.noise[i]! * sigmaUp;
      x0[i] = original;
    }
    this.stepIndex = index + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
