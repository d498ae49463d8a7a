/** What each pipeline operation takes and gives back. */
import type { ResolvedLora } from '../lora/library.js';
import type { RgbImage } from './image.js';
import type { ModelSpec, UpscalerSpec } from './model.js';
import type { SchedulerConfig } from './schedulers/index.js';

/** Text-to-image parameters. */
export interface GenerateRequest {
  readonly model: ModelSpec;
  readonly prompt: string;
  readonly negativePrompt?: string;
  readonly seed: number;
  readonly steps?: number;
  readonly guidance?: number;
  readonly width?: number;
  readonly height?: number;
  /** Images to make; image i uses seed + i. */
  readonly n?: number;
  /** Overrides the model's scheduler. */
  readonly scheduler?: SchedulerConfig;
  /** Seed-jitter variation: blend each image's noise towards the noise of this seed. */
  readonly jitter?: { readonly seed: number; readonly amount: number };
  /** 0–100: how different the images are from each other (`chaos.ts`); 50 when absent. */
  readonly chaos?: number;
  /** Seamless tiles: the denoiser and the VAE decoder wrap around the edges (`circular.ts`). */
  readonly tile?: boolean;
  /**
   * `--draft`: the model's draft denoiser at its draft guidance, where it has one (`draft.ts`); the
   * steps are the request's either way.
   */
  readonly draft?: boolean;
  /** LoRAs merged into the denoiser and text encoders (`lora/`), in order, with their weights. */
  readonly loras?: readonly ResolvedLora[];
}

/** Image-to-image parameters. */
export interface VaryRequest extends Omit<GenerateRequest, 'width' | 'height' | 'jitter' | 'chaos'> {
  readonly image: RgbImage;
  /** 0–1: how far to noise the image (diffusers' strength). */
  readonly strength: number;
}

/** Inpainting parameters. */
export interface InpaintRequest extends Omit<VaryRequest, 'strength'> {
  /** width × height values in [0, 1]; 1 means repaint. */
  readonly mask: Float32Array;
  readonly strength?: number;
  /** Feathering of the composite edge, in pixels. */
  readonly feather?: number;
}

/** Upscale parameters. */
export interface UpscaleRequest {
  readonly image: RgbImage;
  readonly scale: number;
  /** A super-resolution model; without one, Lanczos resampling is used. */
  readonly upscaler?: UpscalerSpec;
  /** Tile size override (input pixels). */
  readonly tile?: number;
  /** "Creative" upscale: a light img2img pass with this model on top. */
  readonly refine?: Omit<VaryRequest, 'image'>;
}

/** What an operation produced. */
export interface PipelineResult {
  readonly images: RgbImage[];
  readonly seeds: number[];
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly guidance: number;
  readonly scheduler: string;
  /** The denoiser file that ran (its base name, e.g. `draft_denoiser.onnx`), where the model has two. */
  readonly denoiser?: string;
  readonly timings: Readonly<Record<string, number>>;
  /** Things the person should know about how it was made ("3 of 264 LoRA keys matched no weight"). */
  readonly notes?: readonly string[];
}
