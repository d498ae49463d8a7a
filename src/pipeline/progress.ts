/** Cancellation and progress reporting, shared by every pipeline operation. */
import { ErrorCode, FlowbotError } from '../errors.js';
import { gaussianNoise } from './random.js';

/** Progress of a running operation. */
export interface PipelineProgress {
  readonly step: number;
  readonly total: number;
  /** A small PNG of the image forming (a linear map of the latents), when previews are asked for. */
  readonly preview?: Uint8Array;
}

/** Cancellation and progress reporting, shared by every operation. */
export interface RunHooks {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: PipelineProgress) => void;
  /** Make a preview every this many steps (0 = never). */
  readonly previewEvery?: number;
  /** Receives the final diffusion latents [n, C, h, w] before they are decoded (tools and tests). */
  readonly onLatents?: (latents: Float32Array) => void;
  /**
   * Supplies image i's initial noise instead of the seeded generator (conformance tests feed the noise
   * that diffusers drew, so that random-number generators do not matter).
   */
  readonly initialNoise?: (image: number, length: number) => Float32Array;
  /** Supplies step i's noise for stochastic schedulers instead of the seeded generator (conformance tests). */
  readonly stepNoise?: (step: number, length: number) => Float32Array;
}

/** Image i's initial noise: the hook's, else drawn from its seed. */
export function initialNoise(hooks: RunHooks, image: number, seed: number, length: number): Float32Array {
  const supplied = hooks.initialNoise?.(image, length);
  if (!supplied) return gaussianNoise(seed, length);
  if (supplied.length !== length)
    throw new Error(`initialNoise: expected ${length} values but received ${supplied.length}`);
  return supplied;
}

/** Throws the abort reason once the signal has fired. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new FlowbotError(ErrorCode.JobCancelled, 'cancelled');
}
