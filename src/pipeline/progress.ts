/** Cancellation and progress reporting, shared by every pipeline operation. */
import { ErrorCode, FlowbotError } from '../errors.js';

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
}

/** Throws the abort reason once the signal has fired. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new FlowbotError(ErrorCode.JobCancelled, 'cancelled');
}
