import {
  alphasCumprod,
  ConfigReader,
  checkLengths,
  f32,
  type PredictionType,
  roundHalfEven,
  type Sample,
  type Scheduler,
  type SchedulerConfig,
  type StepResult,
  sameType,
} from './common.js';
import { ddpmAddNoise } from './ddim.js';

/**
 * PNDM's linear multistep part (PLMS, Liu et al. 2022), as diffusers' PNDMScheduler runs it with
 * `skip_prk_steps` — the way Stable Diffusion 1.x folders ship it. The first step is taken twice (once
 * to estimate, once with the averaged ε), so `n` steps visit `n + 1` timesteps; later steps combine
 * up to four past ε predictions with the Adams–Bashforth weights.
 */
export class PndmScheduler implements Scheduler {
  readonly className = 'PNDMScheduler';
  readonly order = 1;
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  readonly sigmas = undefined;
  readonly predictionType: PredictionType;
  timesteps: number[] = [];
  private readonly acp: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly spacing;
  private readonly stepsOffset: number;
  private inferenceSteps = 0;
  /** Past ε predictions, newest last (at most four). */
  private ets: Float32Array[] = [];
  /** Steps taken so far: the second one repeats the first timestep. */
  private counter = 0;
  /** The sample before the first step, which the repeated first step starts from again. */
  private firstSample: Sample | undefined;

  constructor(config: SchedulerConfig) {
    const reader = new ConfigReader(config, this.className);
    if (!reader.boolean('skip_prk_steps', false)) {
      // The Runge–Kutta warm-up is not implemented; checkScheduler only hands us skip_prk_steps configs.
      throw new Error('PNDMScheduler config: only skip_prk_steps: true (PLMS) is implemented');
    }
    this.acp = alphasCumprod(reader);
    this.finalAlphaCumprod = reader.boolean('set_alpha_to_one', false) ? 1 : this.acp[0]!;
    this.predictionType = reader.choice('prediction_type', ['epsilon', 'v_prediction'] as const, 'epsilon');
    this.spacing = reader.choice('timestep_spacing', ['linspace', 'leading', 'trailing'] as const, 'leading');
    this.stepsOffset = reader.number('steps_offset', 0);
  }

  /** diffusers' _timesteps (ascending), then the PLMS order: the first timestep visited twice. */
  setTimesteps(n: number): void {
    this.inferenceSteps = n;
    const trainSteps = this.acp.length;
    let ascending: number[];
    if (this.spacing === 'linspace') {
      ascending = Array.from({ length: n }, (_, i) =>
        roundHalfEven(n > 1 ? (i * (trainSteps - 1)) / (n - 1) : 0),
      );
    } else if (this.spacing === 'leading') {
      const ratio = Math.floor(trainSteps / n);
      ascending = Array.from({ length: n }, (_, i) => i * ratio + this.stepsOffset);
    } else {
      const ratio = trainSteps / n;
      const descending: number[] = [];
      for (let t = trainSteps; t > 0; t -= ratio) descending.push(roundHalfEven(t) - 1);
      ascending = descending.reverse();
    }
    const plms = [...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)];
    this.timesteps = plms.reverse();
    this.ets = [];
    this.counter = 0;
    this.firstSample = undefined;
  }

  /** PNDM has no begin index: img2img simply starts later in the list. */
  setBeginIndex(): void {}

  scaleModelInput<T extends Sample>(sample: T): T {
    return sample;
  }

  step<T extends Sample>(modelOutput: Sample, t: number, sample: T): StepResult<T> {
    checkLengths(sample, modelOutput, 'PNDM step');
    const stride = Math.floor(this.acp.length / this.inferenceSteps);
    let timestep = t;
    let prevTimestep = t - stride;
    const output = Float32Array.from(modelOutput);
    if (this.counter !== 1) {
      this.ets = [...this.ets.slice(-3), output];
    } else {
      // The repeated first timestep: step again from the first sample to the same target.
      prevTimestep = t;
      timestep = t + stride;
    }
    let from: Sample = sample;
    let epsilon: Float32Array;
    if (this.ets.length === 1 && this.counter === 0) {
      epsilon = output;
      this.firstSample = sample;
    } else if (this.ets.length === 1 && this.counter === 1) {
      epsilon = combine([output, this.ets[0]!], [1, 1], 2);
      from = this.firstSample!;
      this.firstSample = undefined;
    } else {
      epsilon = this.multistep();
    }
    const prevSample = this.previousSample(from, timestep, prevTimestep, epsilon, sameType(sample));
    this.counter++;
    return { prevSample };
  }

  /** Adams–Bashforth of the stored predictions (orders 2 to 4), in float32 as torch computes it. */
  private multistep(): Float32Array {
    const ets = this.ets;
    const last = (k: number) => ets[ets.length - k]!;
    if (ets.length === 2) return combine([last(1), last(2)], [3, -1], 2);
    if (ets.length === 3) return combine([last(1), last(2), last(3)], [23, -16, 5], 12);
    return combine([last(1), last(2), last(3), last(4)], [55, -59, 37, -9], 24);
  }

  /** diffusers' _get_prev_sample (formula (9) of the PNDM paper). */
  private previousSample<T extends Sample>(
    sample: Sample,
    timestep: number,
    prevTimestep: number,
    modelOutput: Float32Array,
    out: T,
  ): T {
    const a = this.acp[timestep]!;
    const aPrev = prevTimestep >= 0 ? this.acp[prevTimestep]! : this.finalAlphaCumprod;
    const b = f32(1 - a);
    const bPrev = f32(1 - aPrev);
    const sampleCoeff = f32(Math.sqrt(f32(aPrev / a)));
    const denom = f32(f32(a * f32(Math.sqrt(bPrev))) + f32(Math.sqrt(f32(f32(a * b) * aPrev))));
    const difference = f32(aPrev - a);
    const sqrtA = f32(Math.sqrt(a));
    const sqrtB = f32(Math.sqrt(b));
    for (let i = 0; i < out.length; i++) {
      const x = sample[i]!;
      let e = modelOutput[i]!;
      if (this.predictionType === 'v_prediction') e = f32(f32(sqrtA * e) + f32(sqrtB * x));
      out[i] = f32(sampleCoeff * x) - f32(f32(difference * e) / denom);
    }
    return out;
  }

  addNoise<T extends Sample>(original: T, noise: Sample, t: number): T {
    return ddpmAddNoise(this.acp, original, noise, t);
  }
}

/** Σ weights[k]·terms[k] / divisor, each operation rounded to float32. */
function combine(terms: readonly Float32Array[], weights: readonly number[], divisor: number): Float32Array {
  const out = new Float32Array(terms[0]!.length);
  for (let i = 0; i < out.length; i++) {
    let sum = f32(weights[0]! * terms[0]![i]!);
    for (let k = 1; k < terms.length; k++) sum = f32(sum + f32(weights[k]! * terms[k]![i]!));
    out[i] = f32(sum / divisor);
  }
  return out;
}
