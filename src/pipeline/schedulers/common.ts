/**
 * Shared pieces of the diffusers-compatible schedulers: beta schedules, timestep spacing, sigma
 * interpolation and Karras sigmas.
 *
 * diffusers keeps its schedule tensors in float32 even when samples are float64. To reproduce its
 * trajectories to 1e-6, the arithmetic it does on float32 tensors is repeated here with
 * `Math.fround` after each operation, and where it casts the sample to float32 we do too.
 */

/** A latent or model output, flat. */
export type Sample = Float32Array | Float64Array;

/** Rounds to float32, as a float32 torch tensor operation would. */
export const f32 = Math.fround;

/** Options of `step`. */
export interface StepOptions {
  /** Random normal values for stochastic schedulers (Euler ancestral, LCM, DDIM with eta > 0). */
  readonly noise?: Sample;
  /** DDIM's eta; 0 is deterministic. */
  readonly eta?: number;
}

/** The result of one step. */
export interface StepResult<T extends Sample> {
  readonly prevSample: T;
  /** The model's estimate of the clean sample at this step, where the scheduler computes it. */
  readonly predOriginalSample?: T;
}

/** What every scheduler offers, with diffusers' names in camelCase. */
export interface Scheduler {
  /** diffusers' `_class_name`. */
  readonly className: string;
  /** Model calls per step (2nd-order multistep solvers still call the model once per step). */
  readonly order: number;
  /** What the model predicts. */
  readonly predictionType: PredictionType;
  /** True when `step` draws noise (it then needs `opts.noise`). */
  readonly stochastic: boolean;
  /** Timesteps of the current schedule, in the order they are visited. */
  readonly timesteps: readonly number[];
  /** Noise levels of the schedule (with a final 0), for schedulers that have them. */
  readonly sigmas: readonly number[] | undefined;
  /** Scale of the initial noise. */
  readonly initNoiseSigma: number;
  /** Builds the schedule for `n` inference steps. */
  setTimesteps(n: number): void;
  /** Where in the schedule to start (img2img); by default the first step. */
  setBeginIndex(index: number): void;
  /** Scales the sample fed to the model at timestep `t`. */
  scaleModelInput<T extends Sample>(sample: T, t: number): T;
  /** One denoising step. */
  step<T extends Sample>(modelOutput: Sample, t: number, sample: T, options?: StepOptions): StepResult<T>;
  /** Noises a clean sample to timestep `t` (img2img start point). */
  addNoise<T extends Sample>(original: T, noise: Sample, t: number): T;
}

/** What the model predicts. */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample' | 'flow_prediction';

/** A parsed diffusers `scheduler_config.json`. */
export type SchedulerConfig = Readonly<Record<string, unknown>> & { readonly _class_name?: string };

/** Reads config keys with defaults and type checks, naming the key in errors. */
export class ConfigReader {
  constructor(
    private readonly config: SchedulerConfig,
    private readonly className: string,
  ) {}

  number(key: string, fallback: number): number {
    const value = this.config[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.error(key, 'a number', value);
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.config[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw this.error(key, 'true or false', value);
    return value;
  }

  choice<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.config[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' || !allowed.includes(value as T))
      throw this.error(key, `one of ${allowed.join(', ')}`, value);
    return value as T;
  }

  private error(key: string, expected: string, value: unknown): Error {
    return new Error(
      `${this.className} config: expected ${expected} for ${key} but received ${JSON.stringify(value)}`,
    );
  }
}

/** torch.linspace in float32 (the CPU kernel computes from both ends towards the middle). */
export function linspaceF32(start: number, end: number, steps: number): Float64Array {
  const out = new Float64Array(steps);
  const s = f32(start);
  const e = f32(end);
  const step = steps > 1 ? f32(f32(e - s) / (steps - 1)) : 0;
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  }
  return out;
}

/** numpy.linspace in float64. */
export function linspace(start: number, end: number, steps: number, endpoint = true): number[] {
  const div = endpoint ? steps - 1 : steps;
  const step = div > 0 ? (end - start) / div : 0;
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(start + i * step);
  if (endpoint && steps > 1) out[steps - 1] = end;
  return out;
}

/** The cumulative products of (1 − β), as diffusers computes them (float32, accumulated in double). */
export function alphasCumprod(reader: ConfigReader): Float64Array {
  const n = reader.number('num_train_timesteps', 1000);
  const betaStart = reader.number('beta_start', 0.0001);
  const betaEnd = reader.number('beta_end', 0.02);
  const schedule = reader.choice(
    'beta_schedule',
    ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const,
    'linear',
  );
  let betas: Float64Array;
  if (schedule === 'linear') betas = linspaceF32(betaStart, betaEnd, n);
  else if (schedule === 'scaled_linear')
    betas = linspaceF32(betaStart ** 0.5, betaEnd ** 0.5, n).map((b) => f32(b * b));
  else {
    const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
    betas = new Float64Array(n);
    for (let i = 0; i < n; i++) betas[i] = f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
  }
  const out = new Float64Array(n);
  let product = 1;
  for (let i = 0; i < n; i++) {
    product *= f32(1 - betas[i]!);
    out[i] = f32(product);
  }
  if (reader.boolean('rescale_betas_zero_snr', false)) return rescaleZeroTerminalSnr(out);
  return out;
}

/** diffusers' rescale_zero_terminal_snr, applied to ᾱ (arXiv:2305.08891, Algorithm 1). */
function rescaleZeroTerminalSnr(acp: Float64Array): Float64Array {
  const sqrt = Array.from(acp, (a) => Math.sqrt(a));
  const first = sqrt[0]!;
  const last = sqrt[sqrt.length - 1]!;
  const out = new Float64Array(acp.length);
  sqrt.forEach((value, i) => {
    const shifted = ((value - last) * first) / (first - last);
    out[i] = f32(Math.max(shifted * shifted, 2 ** -24));
  });
  return out;
}

/** Timestep spacing of the discrete (DDPM-family) schedulers. */
export type Spacing = 'linspace' | 'leading' | 'trailing';

/** numpy's round-half-to-even, which `np.round` uses. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The discrete timesteps diffusers picks for `n` steps with a spacing (Euler/DDIM rules). */
export function spacedTimesteps(
  spacing: Spacing,
  trainSteps: number,
  n: number,
  stepsOffset: number,
): number[] {
  if (spacing === 'linspace') return linspace(0, trainSteps - 1, n).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(trainSteps / n);
    return Array.from({ length: n }, (_, i) => roundHalfEven(i * ratio) + stepsOffset).reverse();
  }
  const ratio = trainSteps / n;
  const out: number[] = [];
  for (let t = trainSteps; t > 0; t -= ratio) out.push(roundHalfEven(t) - 1);
  return out;
}

/** σ(t) = sqrt((1 − ᾱ)/ᾱ) for every training timestep, in float32 as diffusers computes it. */
export function trainingSigmas(acp: Float64Array): Float64Array {
  return acp.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** numpy.interp of `values` (defined at 0..len-1) at the points `x`. */
export function interpIndex(x: readonly number[], values: ArrayLike<number>): number[] {
  const last = values.length - 1;
  return x.map((point) => {
    if (point <= 0) return values[0]!;
    if (point >= last) return values[last]!;
    const low = Math.floor(point);
    const w = point - low;
    const a = values[low]!;
    const b = values[low + 1]!;
    return w === 0 ? a : a + (b - a) * w;
  });
}

/** Karras et al. (2022) noise levels between the ends of `inSigmas`. */
export function karrasSigmas(sigmaMax: number, sigmaMin: number, n: number, rho = 7): number[] {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** diffusers' _sigma_to_t: the fractional training timestep of a noise level. */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // cumsum(dists >= 0).argmax(): the first index where the running count reaches its maximum.
  let lowIdx = 0;
  let running = 0;
  let best = -1;
  for (let i = 0; i < logSigmas.length; i++) {
    running += logSigma - logSigmas[i]! >= 0 ? 1 : 0;
    if (running > best) {
      best = running;
      lowIdx = i;
    }
  }
  lowIdx = Math.min(lowIdx, logSigmas.length - 2);
  const low = logSigmas[lowIdx]!;
  const high = logSigmas[lowIdx + 1]!;
  const w = Math.min(1, Math.max(0, (low - logSigma) / (low - high)));
  return (1 - w) * lowIdx + w * (lowIdx + 1);
}

/** A new array of the same type as `like`. */
export function sameType<T extends Sample>(like: T, length = like.length): T {
  return (like instanceof Float32Array ? new Float32Array(length) : new Float64Array(length)) as T;
}

/** Checks that two samples have the same length. */
export function checkLengths(a: Sample, b: Sample, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: expected ${a.length} values but received ${b.length}`);
}

/** diffusers' index_for_timestep: the position of `t` in the schedule (the second match if repeated). */
export function indexForTimestep(timesteps: readonly number[], t: number): number {
  const matches: number[] = [];
  timesteps.forEach((value, i) => {
    if (value === t) matches.push(i);
  });
  if (matches.length === 0)
    throw new Error(`Timestep ${t} is not in the schedule (${timesteps.slice(0, 4).join(', ')}, ...)`);
  return matches.length > 1 ? matches[1]! : matches[0]!;
}
