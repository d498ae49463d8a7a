/** The parameters of each image job kind, as stored with the job (they cross restarts, so they are plain data). */
import type { Outpaint } from './pipeline/canvas.js';
import type { SchedulerName } from './prompt/params.js';

/** Parameters shared by every image job. */
export interface Common {
  /** One line saying how flowbot understood the request; shown with the result. */
  readonly explanation: string;
}

/** A text-to-image job. */
export interface GenerateParams extends Common {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly guidance: number;
  readonly width: number;
  readonly height: number;
  readonly n: number;
  readonly model: string;
  readonly scheduler?: SchedulerName;
  /** Set for rerolls and parameter edits: the image this one replaces in the conversation. */
  readonly parentId?: string;
  /** Seed-jitter variations of an image: blend towards this seed's noise. */
  readonly jitter?: { readonly seed: number; readonly amount: number };
}

/** An image-to-image job. */
export interface VaryParams extends Common {
  readonly parentId: string;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly strength: number;
  readonly steps: number;
  readonly guidance: number;
  readonly n: number;
  readonly model: string;
  readonly scheduler?: SchedulerName;
}

/** An inpainting job. */
export interface InpaintParams extends Common {
  readonly parentId: string;
  readonly maskId: string;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly guidance: number;
  readonly model: string;
}

/** An outpainting job: zoom out, pan or widen, painting the new area of a larger canvas. */
export interface OutpaintParams extends Common {
  readonly parentId: string;
  readonly outpaint: Outpaint;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly guidance: number;
  readonly model: string;
}

/** An upscale job. */
export interface UpscaleParams extends Common {
  readonly parentId: string;
  readonly scale: number;
  readonly creative: boolean;
  readonly seed: number;
}
