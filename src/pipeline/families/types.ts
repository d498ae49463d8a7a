/**
 * What a model family is to the pipeline. Each family (SD 1.x/2.x, SDXL, SD3, FLUX.1, flowbot's own)
 * is one module that reads its folder, turns prompts into the denoiser's conditioning, sets the
 * scheduler's timesteps, and builds the denoiser's inputs (latent packing, timestep convention, extra
 * ids). One shared loop (`denoise.ts`) calls them, so a new family is one new file.
 */
import type { HostTensor, OnnxModel } from '../onnx.js';
import type { Scheduler, SchedulerConfig } from '../schedulers/index.js';
import type { TextEncoders } from '../text.js';
import type { TokenizerSpec } from '../tokenizers.js';
import type { Conditioning } from './inputs.js';

/** The families flowbot runs. */
export type FamilyId = 'sd' | 'sdxl' | 'sd3' | 'flux' | 'flowbot';

/** Everything the pipeline needs to know about a model folder. */
export interface ModelSpec {
  readonly name: string;
  readonly dir: string;
  readonly family: FamilyId;
  readonly format: 'diffusers-onnx' | 'flowbot';
  /** ONNX files of the components; text encoders 2 and 3 where the family has them. */
  readonly files: {
    readonly textEncoder: string;
    readonly textEncoder2?: string;
    readonly textEncoder3?: string;
    readonly denoiser: string;
    /** A few-step student of the denoiser (flowbot manifest `draft_denoiser`) that `--draft` runs. */
    readonly draftDenoiser?: string;
    readonly vaeEncoder: string | undefined;
    readonly vaeDecoder: string;
  };
  readonly tokenizers: {
    readonly tokenizer: TokenizerSpec;
    readonly tokenizer2?: TokenizerSpec;
    readonly tokenizer3?: TokenizerSpec;
  };
  readonly scheduler: SchedulerConfig;
  /** Flow matching (velocity prediction, FlowMatch Euler) rather than classical diffusion. */
  readonly flow: boolean;
  readonly latent: {
    readonly channels: number;
    readonly downscale: number;
    /** Diffusion latents are (z − shift) · scale, z being the VAE's. */
    readonly scale: number;
    readonly shift: number;
  };
  readonly nativeSize: { readonly width: number; readonly height: number };
  /** Image sides are rounded to multiples of this. */
  readonly sizeMultiple: number;
  /**
   * Steps and guidance by default; `draftSteps` and `draftGuidance` where the folder says what
   * `--draft` should use (the guidance only applies to a draft denoiser, which was distilled for it).
   */
  readonly defaults: {
    readonly steps: number;
    readonly guidance: number;
    readonly draftSteps?: number;
    readonly draftGuidance?: number;
  };
  /** Latent → RGB factors for previews ([channels][3]) when the folder gives them; fitted otherwise. */
  readonly latentRgb: readonly (readonly number[])[] | undefined;
  readonly license: string | undefined;
  /** Style words the model was trained with ("… in 3d style"), for --style. */
  readonly styles: readonly string[];
  /** Family-specific settings read from the folder's configs. */
  readonly options: FamilyOptions;
}

/** Settings only some families have. */
export interface FamilyOptions {
  /** SDXL: an empty negative prompt is all zeros (model_index.json force_zeros_for_empty_prompt). */
  readonly forceZerosForEmptyPrompt?: boolean;
  /** FLUX.1 dev: the guidance value is a model input (transformer guidance_embeds). */
  readonly guidanceEmbeds?: boolean;
  /**
   * flowbot manifest with a WordPiece tokenizer: the text encoder is a sentence encoder (token states
   * and a pooled sentence vector, run at the text's own length) conditioning `encoder_hidden_states`
   * and `pooled_projections`.
   */
  readonly sentenceEncoder?: boolean;
}

/** The latent grid of one image. */
export interface LatentGeometry {
  /** Latent rows and columns. */
  readonly height: number;
  readonly width: number;
  /** Pixel size of the image. */
  readonly imageHeight: number;
  readonly imageWidth: number;
}

/** One prompt's conditioning (defined beside the helpers that stack it). */
export type { Conditioning } from './inputs.js';

/** The prompt's conditioning, and the negative prompt's when guidance runs. */
export interface PromptConditioning {
  readonly cond: Conditioning;
  readonly uncond: Conditioning | undefined;
}

/** The denoiser's inputs and outputs for one image size. */
export interface DenoiserAdapter {
  /** Latent channels the denoiser takes (2C + 1 for a native inpainting UNet). */
  readonly inChannels: number;
  /** Whether the denoiser takes more than one image per run. */
  readonly batchDynamic: boolean;
  /** Inputs for `batch` latents [batch, inChannels, h, w] at scheduler timestep `t`. */
  feeds(
    sample: Float32Array,
    batch: number,
    t: number,
    conditioning: readonly Conditioning[],
  ): Record<string, HostTensor>;
  /** The prediction as latents [batch, C, h, w]. */
  prediction(outputs: Readonly<Record<string, HostTensor>>, batch: number): Float32Array;
}

/**
 * The first img2img step of N at strength s: SD and SDXL's pipelines skip N − ⌊N·s⌋ steps ("floor");
 * SD3's and FLUX's skip ⌊N − N·s⌋ ("unrounded"), one step more of denoising when N·s is fractional.
 */
export type Img2ImgStart = 'floor' | 'unrounded';

/** A model family: one module per family, registered in `families/index.ts`. */
export interface ModelFamily {
  readonly id: FamilyId;
  /** The diffusers pipeline classes (model_index.json `_class_name`) it reads. */
  readonly pipelineClasses: readonly string[];
  /** Reads a model folder of this family. */
  readSpec(dir: string): ModelSpec;
  /** Whether classifier-free guidance runs (two predictions per step) at this guidance value. */
  guided(spec: ModelSpec, guidance: number): boolean;
  /** Encodes the prompt, and the negative prompt when `guided`. */
  encodePrompt(
    text: TextEncoders,
    spec: ModelSpec,
    prompt: string,
    negative: string,
    guided: boolean,
  ): Promise<PromptConditioning>;
  /**
   * Where img2img starts for a strength, as the family's diffusers pipelines compute it (see
   * {@link Img2ImgStart}); "floor" when absent.
   */
  readonly img2imgStart?: Img2ImgStart;
  /** Sets the scheduler's timesteps for `steps` at this image size. */
  schedule(scheduler: Scheduler, steps: number, geometry: LatentGeometry): void;
  /** The denoiser's inputs and outputs. */
  denoiser(model: OnnxModel, spec: ModelSpec, geometry: LatentGeometry, guidance: number): DenoiserAdapter;
}
