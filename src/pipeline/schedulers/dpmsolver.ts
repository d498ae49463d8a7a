import { ScheduleWalker } from './base.js';
import {
  alphasCumprod,
  ConfigReader,
  checkLengths,
  f32,
  interpIndex,
  karrasSigmas,
  linspace,
  type PredictionType,
  roundHalfEven,
  type Sample,
  type Scheduler,
  type SchedulerConfig,
  type StepResult,
  sameType,
  sigmaToT,
  trainingSigmas,
} from './common.js';

/** α_t, σ_t of a noise level in the variance-exploding parameterisation (float32, as diffusers). */
function alphaSigma(sigma: number): [number, number] {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  return [alpha, f32(sigma * alpha)];
}

function lambda(alpha: number, sigma: number): number {
  return f32(f32(Math.log(alpha)) - f32(Math.log(sigma)));
}

/**
 * DPM-Solver++ multistep (Lu et al. 2022), order 1 or 2 with the midpoint or Heun update, as diffusers'
 * DPMSolverMultistepScheduler with algorithm_type "dpmsolver++" (the "DPM++ 2M" sampler).
 */
export class DpmSolverMultistepScheduler extends ScheduleWalker implements Scheduler {
  readonly className = 'DPMSolverMultistepScheduler';
  readonly order = 1;
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  readonly predictionType: PredictionType;
  sigmas: number[] = [];
  private readonly solverOrder: number;
  private readonly solverType;
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  private readonly finalSigmasType;
  private readonly useKarras: boolean;
  private readonly spacing;
  private readonly stepsOffset: number;
  private readonly trainSigmas: Float64Array;
  private readonly trainSteps: number;
  private modelOutputs: (Float64Array | undefined)[] = [];
  private lowerOrderNums = 0;

  constructor(config: SchedulerConfig) {
    super();
    const reader = new ConfigReader(config, this.className);
    const acp = alphasCumprod(reader);
    this.trainSteps = acp.length;
    this.trainSigmas = trainingSigmas(acp);
    this.predictionType = reader.choice(
      'prediction_type',
      ['epsilon', 'v_prediction', 'sample', 'flow_prediction'] as const,
      'epsilon',
    );
    this.solverOrder = reader.number('solver_order', 2);
    if (this.solverOrder !== 1 && this.solverOrder !== 2) {
      throw new Error(
        `DPMSolverMultistepScheduler config: expected 1 or 2 for solver_order but received ${this.solverOrder}`,
      );
    }
    const algorithm = reader.choice(
      'algorithm_type',
      ['dpmsolver++', 'sde-dpmsolver++', 'dpmsolver', 'sde-dpmsolver'] as const,
      'dpmsolver++',
    );
    if (algorithm !== 'dpmsolver++') {
      throw new Error(
        `DPMSolverMultistepScheduler config: only algorithm_type "dpmsolver++" is supported, not "${algorithm}"`,
      );
    }
    this.solverType = reader.choice('solver_type', ['midpoint', 'heun'] as const, 'midpoint');
    this.lowerOrderFinal = reader.boolean('lower_order_final', true);
    this.eulerAtFinal = reader.boolean('euler_at_final', false);
    this.finalSigmasType = reader.choice('final_sigmas_type', ['zero', 'sigma_min'] as const, 'zero');
    this.useKarras = reader.boolean('use_karras_sigmas', false);
    this.spacing = reader.choice(
      'timestep_spacing',
      ['linspace', 'leading', 'trailing'] as const,
      'linspace',
    );
    this.stepsOffset = reader.number('steps_offset', 0);
  }

  setTimesteps(n: number): void {
    const last = this.trainSteps;
    let timesteps: number[];
    if (this.spacing === 'linspace') {
      timesteps = linspace(0, last - 1, n + 1)
        .map(roundHalfEven)
        .reverse()
        .slice(0, -1);
    } else if (this.spacing === 'leading') {
      const ratio = Math.floor(last / (n + 1));
      timesteps = Array.from({ length: n + 1 }, (_, i) => i * ratio)
        .reverse()
        .slice(0, -1)
        .map((t) => t + this.stepsOffset);
    } else {
      const ratio = this.trainSteps / n;
      timesteps = [];
      for (let t = last; t > 0; t -= ratio) timesteps.push(roundHalfEven(t) - 1);
    }
    let sigmas: number[];
    if (this.useKarras) {
      const logSigmas = Array.from(this.trainSigmas, Math.log);
      const descending = [...this.trainSigmas].reverse();
      sigmas = karrasSigmas(descending[0]!, descending[descending.length - 1]!, n);
      timesteps = sigmas.map((sigma) => roundHalfEven(sigmaToT(sigma, logSigmas)));
    } else {
      sigmas = interpIndex(timesteps, this.trainSigmas);
    }
    const a0 = this.trainSigmas[0]!;
    const sigmaLast = this.finalSigmasType === 'sigma_min' ? a0 : 0;
    this.sigmas = sigmas.concat([sigmaLast]).map(f32);
    this.timesteps = timesteps;
    this.modelOutputs = Array.from({ length: this.solverOrder }, () => undefined);
    this.lowerOrderNums = 0;
    this.resetWalk();
  }

  scaleModelInput<T extends Sample>(sample: T): T {
    return sample;
  }

  /** The model output turned into a data (x0) prediction, from the unrounded sample. */
  private dataPrediction(modelOutput: Sample, sample: Sample, index: number): Float64Array {
    const sigma = this.sigmas[index]!;
    const [alpha, sigmaT] = alphaSigma(sigma);
    const out = new Float64Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      if (this.predictionType === 'epsilon') out[i] = (x - sigmaT * m) / alpha;
      else if (this.predictionType === 'sample') out[i] = m;
      else if (this.predictionType === 'v_prediction') out[i] = alpha * x - sigmaT * m;
      else out[i] = x - sigma * m;
    }
    return out;
  }

  step<T extends Sample>(modelOutput: Sample, t: number, sample: T): StepResult<T> {
    checkLengths(sample, modelOutput, 'DPM-Solver step');
    const index = this.currentIndex(t);
    const count = this.timesteps.length;
    const lowerOrderFinal =
      index === count - 1 &&
      (this.eulerAtFinal || (this.lowerOrderFinal && count < 15) || this.finalSigmasType === 'zero');
    const lowerOrderSecond = index === count - 2 && this.lowerOrderFinal && count < 15;
    const x0 = this.dataPrediction(modelOutput, sample, index);
    this.modelOutputs.shift();
    this.modelOutputs.push(x0);

    const [alphaT, sigmaT] = alphaSigma(this.sigmas[index + 1]!);
    const [alphaS0, sigmaS0] = alphaSigma(this.sigmas[index]!);
    const lambdaT = lambda(alphaT, sigmaT);
    const lambdaS0 = lambda(alphaS0, sigmaS0);
    const h = f32(lambdaT - lambdaS0);
    const ratio = f32(sigmaT / sigmaS0);
    const expTerm = f32(alphaT * f32(f32(Math.exp(f32(-h))) - 1));
    const prev = sameType(sample);
    const useFirstOrder = this.solverOrder === 1 || this.lowerOrderNums < 1 || lowerOrderFinal;
    if (useFirstOrder) {
      for (let i = 0; i < sample.length; i++) prev[i] = f32(ratio * f32(sample[i]!)) - expTerm * x0[i]!;
    } else {
      void lowerOrderSecond; // order 2 is the highest supported, so "lower order second" changes nothing
      const m0 = x0;
      const m1 = this.modelOutputs[this.modelOutputs.length - 2]!;
      const [alphaS1, sigmaS1] = alphaSigma(this.sigmas[index - 1]!);
      const lambdaS1 = lambda(alphaS1, sigmaS1);
      const h0 = f32(lambdaS0 - lambdaS1);
      const r0 = f32(h0 / h);
      const inv = f32(1 / r0);
      const heunTerm = f32(alphaT * f32(f32(f32(f32(Math.exp(f32(-h))) - 1) / h) + 1));
      const halfExp = f32(0.5 * expTerm);
      for (let i = 0; i < sample.length; i++) {
        const d1 = inv * (m0[i]! - m1[i]!);
        const base = f32(ratio * f32(sample[i]!)) - expTerm * m0[i]!;
        prev[i] = this.solverType === 'midpoint' ? base - halfExp * d1 : base + heunTerm * d1;
      }
    }
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    this.stepIndex = index + 1;
    return { prevSample: prev };
  }

  addNoise<T extends Sample>(original: T, noise: Sample, t: number): T {
    checkLengths(original, noise, 'add_noise');
    const [alpha, sigma] = alphaSigma(this.sigmas[this.noiseIndex(t)]!);
    const out = sameType(original);
    for (let i = 0; i < original.length; i++) out[i] = alpha * original[i]! + sigma * noise[i]!;
    return out;
  }
}
