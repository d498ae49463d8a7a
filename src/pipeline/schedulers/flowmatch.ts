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

  constructor(config: SchedulerConfig) {
    super();
    const reader = new ConfigReader(config, this.className);
    this.trainSteps = reader.number('num_train_timesteps', 1000);
    this.shift = reader.number('shift', 1);
    if (reader.boolean('use_dynamic_shifting', false)) {
      throw new Error(
        'FlowMatchEulerDiscreteScheduler config: use_dynamic_shifting is not supported; set a fixed shift',
      );
    }
    const n = this.trainSteps;
    // The training schedule in float32: t = n..1, σ = shift·s / (1 + (shift − 1)·s) with s = t / n.
    const train = Array.from({ length: n }, (_, i) => {
      const s = f32(f32(n - i) / n);
      return f32(f32(this.shift * s) / f32(1 + f32((this.shift - 1) * s)));
    });
    this.sigmaMax = train[0]!;
    this.sigmaMin = train[n - 1]!;
    this.sigmas = train.concat([0]);
    this.timesteps = train.map((s) => f32(s * n));
  }

  setTimesteps(steps: number): void {
    const n = this.trainSteps;
    const raw = linspace(this.sigmaMax * n, this.sigmaMin * n, steps).map((t) => t / n);
    const sigmas = raw.map((s) => f32((this.shift * s) / (1 + (this.shift - 1) * s)));
    this.timesteps = sigmas.map((s) => f32(s * n));
    this.sigmas = sigmas.concat([0]);
    this.resetWalk();
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
