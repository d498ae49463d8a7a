/**
 * The image engine: generate, vary (img2img and seed jitter), inpaint and upscale, for every model
 * family. Each operation prepares the family's conditioning and schedule, draws seeded noise at the
 * latent resolution, runs the shared denoising loop (`denoise.ts`) and decodes with the VAE
 * (`vae.ts`, tiled for large images). Super-resolution lives in `upscale.ts`.
 */
import path from 'node:path';
import { ErrorCode, FlowbotError, UserError } from '../errors.js';
import { ortAddUpdate } from '../lora/gemm.js';
import { LoraMerger, type LoraVariants } from '../lora/variant.js';
import { batchWithin } from './budget.js';
import { chaosCells, chaosNoise, DEFAULT_CHAOS } from './chaos.js';
import { circularFor } from './circular.js';
import { encodeConditioning } from './conditioning.js';
import { type DenoiseInput, denoise } from './denoise.js';
import { draftDenoiser } from './draft.js';
import { familyOf } from './families/index.js';
import type { DenoiserAdapter, LatentGeometry, ModelFamily, PromptConditioning } from './families/types.js';
import { blurMask, composeGrid, encodePng, fromTensor, type RgbImage, resizeRgb, toTensor } from './image.js';
import { composite, downsampleMask, resizeMask } from './masks.js';
import type { ModelSpec } from './model.js';
import { chainVariants, type OnnxBackend, type OnnxModel } from './onnx.js';
import type {
  GenerateRequest,
  InpaintRequest,
  PipelineResult,
  UpscaleRequest,
  VaryRequest,
} from './operations.js';
import { Previews } from './preview.js';
import { checkAborted, initialNoise, type RunHooks } from './progress.js';
import { gaussianNoise, slerp } from './random.js';
import { roundedSize } from './recipe.js';
import { createScheduler, img2imgTimesteps, type Scheduler, schedulerLabel } from './schedulers/index.js';
import { TextEncoders } from './text.js';
import { superResolve } from './upscale.js';
import { DEFAULT_VAE_TILE, Vae } from './vae.js';

export type {
  GenerateRequest,
  InpaintRequest,
  PipelineResult,
  UpscaleRequest,
  VaryRequest,
} from './operations.js';
export type { PipelineProgress, RunHooks } from './progress.js';

/** How the pipeline treats memory. */
export interface PipelineOptions {
  /** VAE tile in pixels: larger images are encoded and decoded in tiles (0 = never tile). */
  readonly vaeTile?: number;
  /** Release text encoders after each prompt's encoding (slower, much less memory for T5). */
  readonly releaseTextEncoders?: boolean;
  /** Peak memory to plan for (MB): n images are denoised in batches whose estimate fits. */
  readonly memoryBudgetMB?: number;
  /** Largest LoRA file accepted, in MB. */
  readonly loraMaxMB?: number;
}

const MAX_SEED = 4_294_967_296;

/** An operation's model, conditioning and schedule, ready for the loop. */
interface Prepared {
  readonly spec: ModelSpec;
  readonly family: ModelFamily;
  readonly model: OnnxModel;
  readonly adapter: DenoiserAdapter;
  readonly scheduler: Scheduler;
  /** The scheduler as results name it (with the folder's own when another runs in its place). */
  readonly schedulerName: string;
  readonly geometry: LatentGeometry;
  readonly conditioning: PromptConditioning;
  readonly steps: number;
  readonly guidance: number;
  /** The denoiser file that runs (the draft denoiser for a draft, where the model has one). */
  readonly denoiserFile: string;
  readonly textMs: number;
  /** `--tile`: the denoiser and the decoder wrap around the edges. */
  readonly tile: boolean;
  /** Notes for the result (LoRA keys that matched nothing). */
  readonly notes: readonly string[];
  /** Ends the operation's hold on the denoiser (a merged session evicted meanwhile is released then). */
  readonly release: () => void;
}

/** The pipeline; one per process, sharing one ONNX backend. */
export class Pipeline {
  private readonly backend: OnnxBackend;
  private readonly text: TextEncoders;
  private readonly vae: Vae;
  private readonly previews: Previews;
  private readonly releaseTextEncoders: boolean;
  private readonly memoryBudgetMB: number;
  /** Merges LoRAs into sessions; `loras.merges` counts the merges done. */
  readonly loras: LoraMerger;

  constructor(backend: OnnxBackend, options: PipelineOptions = {}) {
    this.backend = backend;
    this.text = new TextEncoders(backend);
    this.vae = new Vae(backend, { tile: options.vaeTile ?? DEFAULT_VAE_TILE });
    this.previews = new Previews(this.vae);
    this.releaseTextEncoders = options.releaseTextEncoders ?? false;
    this.memoryBudgetMB = options.memoryBudgetMB ?? Number.POSITIVE_INFINITY;
    this.loras = new LoraMerger({
      addUpdate: ortAddUpdate(backend),
      ...(options.loraMaxMB !== undefined ? { maxMB: options.loraMaxMB } : {}),
    });
  }

  /** Sum of session.run times of every model loaded so far, for the efficiency benchmark. */
  async sessionRunMs(spec: ModelSpec): Promise<number> {
    let total = 0;
    for (const file of Object.values(spec.files)) if (file) total += (await this.backend.load(file)).runMs;
    return total;
  }

  /** Rounds a requested size to what the model can make. */
  resolveSize(spec: ModelSpec, width?: number, height?: number): { width: number; height: number } {
    return roundedSize(spec, width ?? spec.nativeSize.width, height ?? spec.nativeSize.height);
  }

  /** Text to image. */
  async generate(request: GenerateRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    const n = request.n ?? 1;
    const { width, height } = this.resolveSize(request.model, request.width, request.height);
    const prepared = await this.prepare(request, width, height);
    const { scheduler, spec } = prepared;
    const size = spec.latent.channels * prepared.geometry.height * prepared.geometry.width;
    const seeds = seedsFrom(request.seed, n);
    const chaos = request.chaos ?? DEFAULT_CHAOS;
    const shape = { channels: spec.latent.channels, ...prepared.geometry };
    const latents = new Float32Array(n * size);
    chaosNoise(seeds, shape, chaos).forEach((start, i) => {
      // The test hook's noise, when given, replaces the seeded (chaos-mixed) start.
      let noise = hooks.initialNoise ? initialNoise(hooks, i, seeds[i]!, size) : start;
      if (request.jitter) {
        const other = gaussianNoise((request.jitter.seed + i) % MAX_SEED, size);
        noise = slerp(noise, other, request.jitter.amount);
      }
      for (let j = 0; j < size; j++) latents[i * size + j] = noise[j]! * scheduler.initNoiseSigma;
    });
    const cells = chaosCells(prepared.conditioning.cond, prepared.guidance, seeds, chaos);
    const run = await this.denoiseAndDecode(prepared, {
      timesteps: scheduler.timesteps,
      latents,
      n,
      seed: request.seed,
      hooks,
      ...(cells ? { cells } : {}),
    });
    return result(run, prepared, { seeds, width, height, started });
  }

  /** Image to image: noise the encoded image to the strength's start step, then denoise. */
  async vary(request: VaryRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    if (!(request.strength > 0 && request.strength <= 1)) {
      throw new UserError(
        ErrorCode.FlagValue,
        `Expected a number 0.01–1 for strength but received ${request.strength}`,
      );
    }
    const n = request.n ?? 1;
    const { width, height } = this.resolveSize(request.model, request.image.width, request.image.height);
    const source = await fitImage(request.image, width, height);
    const prepared = await this.prepare(request, width, height);
    const original = await this.vae.encode(prepared.spec, toTensor(source), width, height);
    const { scheduler } = prepared;
    const timesteps = img2imgTimesteps(
      scheduler,
      prepared.steps,
      request.strength,
      prepared.family.img2imgStart,
    );
    const seeds = seedsFrom(request.seed, n);
    const latents = new Float32Array(n * original.length);
    seeds.forEach((seed, i) => {
      const start =
        timesteps.length > 0
          ? scheduler.addNoise(original, initialNoise(hooks, i, seed, original.length), timesteps[0]!)
          : original;
      latents.set(start, i * original.length);
    });
    const run = await this.denoiseAndDecode(prepared, { timesteps, latents, n, seed: request.seed, hooks });
    return result(run, prepared, { seeds, width, height, started });
  }

  /**
   * Repaints the masked region. Native 9-channel models get mask and masked-image latents; others blend
   * the known region back in after every step. Pixels outside the mask are then copied from the
   * original, with the edge feathered inwards only, so the unmasked region is unchanged.
   */
  async inpaint(request: InpaintRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    const { image } = request;
    if (request.mask.length !== image.width * image.height) {
      throw new FlowbotError(
        ErrorCode.ImageInvalid,
        `The mask has ${request.mask.length} values for a ${image.width}×${image.height} image`,
      );
    }
    const { width, height } = this.resolveSize(request.model, image.width, image.height);
    const source = await fitImage(image, width, height);
    const pixelMask =
      source === image
        ? request.mask
        : await resizeMask(request.mask, image.width, image.height, width, height);
    const n = request.n ?? 1;
    const strength = request.strength ?? 1;
    const prepared = await this.prepare(request, width, height);
    const { spec, scheduler } = prepared;
    const latentMask = downsampleMask(pixelMask, width, height, spec.latent.downscale);
    const native = prepared.adapter.inChannels === 2 * spec.latent.channels + 1;
    const original = await this.vae.encode(spec, toTensor(source), width, height);
    const timesteps =
      strength >= 1
        ? scheduler.timesteps
        : img2imgTimesteps(scheduler, prepared.steps, strength, prepared.family.img2imgStart);
    const seeds = seedsFrom(request.seed, n);
    const noises = seeds.map((seed, i) => initialNoise(hooks, i, seed, original.length));
    const latents = new Float32Array(n * original.length);
    noises.forEach((noise, i) => {
      const start =
        strength >= 1
          ? noise.map((v) => v * scheduler.initNoiseSigma)
          : scheduler.addNoise(original, noise, timesteps[0]!);
      latents.set(start, i * original.length);
    });
    let inpainting: Pick<DenoiseInput, 'native'> | Pick<DenoiseInput, 'blend'>;
    if (native) {
      const masked = toTensor(source);
      const plane = width * height;
      for (let c = 0; c < 3; c++)
        for (let i = 0; i < plane; i++) if (pixelMask[i]! >= 0.5) masked[c * plane + i] = 0;
      inpainting = {
        native: { mask: latentMask, maskedLatents: await this.vae.encode(spec, masked, width, height) },
      };
    } else {
      inpainting = { blend: { mask: latentMask, original, noise: noises[0]! } };
    }
    const run = await this.denoiseAndDecode(prepared, {
      timesteps,
      latents,
      n,
      seed: request.seed,
      hooks,
      ...inpainting,
    });
    const feathered = await blurMask(pixelMask, width, height, request.feather ?? Math.max(1, width / 128));
    const alpha = pixelMask.map((m, i) => m * feathered[i]!);
    const images = run.images.map((generated) => composite(source, generated, alpha));
    return result({ ...run, images }, prepared, { seeds, width, height, started });
  }

  /**
   * Upscales by `scale` with a super-resolution model over overlapping tiles, or with Lanczos when
   * there is no model; optionally refines with a light img2img pass.
   */
  async upscale(request: UpscaleRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    let image = await superResolve(
      this.backend,
      request.image,
      request.scale,
      request.upscaler,
      request.tile,
      hooks,
    );
    let steps = 0;
    let guidance = 0;
    let scheduler = request.upscaler ? `sr:${request.upscaler.name}` : 'lanczos';
    if (request.refine) {
      const refined = await this.vary({ ...request.refine, image, n: 1 }, hooks);
      image = refined.images[0]!;
      ({ steps, guidance } = refined);
      scheduler = `${scheduler}+${refined.scheduler}`;
    }
    return {
      images: [image],
      seeds: [],
      width: image.width,
      height: image.height,
      steps,
      guidance,
      scheduler,
      timings: { total: performance.now() - started },
    };
  }

  /** A 2×2 (or smaller) grid of the images, as PNG. */
  async grid(images: readonly RgbImage[], text?: Record<string, string>): Promise<Buffer> {
    return encodePng(await composeGrid(images), text);
  }

  // ---- internals -----------------------------------------------------------------------------------

  /** Loads the denoiser, encodes the prompt and sets the schedule for an image of this size. */
  private async prepare(request: GenerateRequest, width: number, height: number): Promise<Prepared> {
    const spec = request.model;
    const family = familyOf(spec);
    const steps = request.steps ?? spec.defaults.steps;
    const student = request.draft ? draftDenoiser(spec) : undefined;
    const guidance = student?.guidance ?? request.guidance ?? spec.defaults.guidance;
    const denoiserFile = student?.file ?? spec.files.denoiser;
    const geometry: LatentGeometry = {
      height: height / spec.latent.downscale,
      width: width / spec.latent.downscale,
      imageHeight: height,
      imageWidth: width,
    };
    const loras: LoraVariants | undefined =
      request.loras && request.loras.length > 0 ? this.loras.variants(spec, request.loras) : undefined;
    const variantOf = (file: string) => loras?.byFile.get(path.resolve(file));
    const denoiserVariant = chainVariants(variantOf(denoiserFile), circularFor(spec, request.tile));
    const model = await this.backend.load(denoiserFile, denoiserVariant);
    const release = model.hold();
    const adapter = family.denoiser(model, spec, geometry, guidance);
    const textStart = performance.now();
    const guided = family.guided(spec, guidance);
    const conditioning = await encodeConditioning(
      family,
      loras ? this.text.withVariants(variantOf) : this.text,
      spec,
      request.prompt,
      request.negativePrompt ?? '',
      guided,
    ).catch((error: unknown) => {
      release();
      throw error;
    });
    if (this.releaseTextEncoders) await this.releaseText(spec);
    const textMs = performance.now() - textStart;
    const schedulerConfig = request.scheduler ?? spec.scheduler;
    const scheduler = createScheduler(schedulerConfig);
    family.schedule(scheduler, steps, geometry);
    const schedulerName = schedulerLabel(schedulerConfig, scheduler);
    const tile = request.tile === true;
    return {
      spec,
      family,
      model,
      adapter,
      scheduler,
      schedulerName,
      geometry,
      conditioning,
      steps,
      guidance,
      denoiserFile,
      textMs,
      tile,
      notes: loras ? loras.notes() : [],
      release,
    };
  }

  private async releaseText(spec: ModelSpec): Promise<void> {
    const { textEncoder, textEncoder2, textEncoder3 } = spec.files;
    for (const file of [textEncoder, textEncoder2, textEncoder3]) if (file) await this.backend.dispose(file);
  }

  /** Runs the denoising loop and decodes, timing both. */
  private async denoiseAndDecode(
    prepared: Prepared,
    run: Pick<DenoiseInput, 'timesteps' | 'latents' | 'n' | 'seed' | 'hooks' | 'native' | 'blend' | 'cells'>,
  ): Promise<DenoiseRun> {
    const { spec, geometry } = prepared;
    const start = performance.now();
    const guided = prepared.conditioning.uncond !== undefined;
    const size = { width: geometry.imageWidth, height: geometry.imageHeight, guided };
    const maxBatch = Math.max(1, batchWithin(spec, size, run.n, this.memoryBudgetMB));
    const final = await denoise({
      ...run,
      maxBatch,
      spec,
      model: prepared.model,
      adapter: prepared.adapter,
      scheduler: prepared.scheduler,
      geometry,
      conditioning: prepared.conditioning,
      guidance: prepared.guidance,
      preview: (latents) => this.previews.render(spec, latents, run.n, geometry.height, geometry.width),
    }).finally(prepared.release);
    run.hooks.onLatents?.(final);
    const decodeStart = performance.now();
    const latentSize = spec.latent.channels * geometry.height * geometry.width;
    const images: RgbImage[] = [];
    for (let i = 0; i < run.n; i++) {
      checkAborted(run.hooks.signal);
      const latents = final.subarray(i * latentSize, (i + 1) * latentSize);
      const { height, width } = geometry;
      const pixels = await this.vae.decode(spec, latents, height, width, run.hooks.signal, prepared.tile);
      images.push(fromTensor(pixels, geometry.imageWidth, geometry.imageHeight));
    }
    return { images, denoiseMs: decodeStart - start, decodeMs: performance.now() - decodeStart };
  }
}

/** What one denoise-and-decode pass produced. */
interface DenoiseRun {
  readonly images: RgbImage[];
  readonly denoiseMs: number;
  readonly decodeMs: number;
}

/** The image at the size the model makes (resized when the request's size was rounded). */
async function fitImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  return image.width === width && image.height === height ? image : resizeRgb(image, width, height);
}

/** Seeds of `n` images: image i uses seed + i (wrapping at 2^32), so a grid cell can be made again alone. */
function seedsFrom(seed: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed + i) % MAX_SEED);
}

/** The result of an operation, with its timings. */
function result(
  run: DenoiseRun,
  prepared: Prepared,
  meta: { seeds: number[]; width: number; height: number; started: number },
): PipelineResult {
  return {
    images: run.images,
    seeds: meta.seeds,
    width: meta.width,
    height: meta.height,
    steps: prepared.steps,
    guidance: prepared.guidance,
    scheduler: prepared.schedulerName,
    ...(prepared.spec.files.draftDenoiser ? { denoiser: path.basename(prepared.denoiserFile) } : {}),
    timings: {
      textEncoder: prepared.textMs,
      denoise: run.denoiseMs,
      decode: run.decodeMs,
      total: performance.now() - meta.started,
    },
    ...(prepared.notes.length > 0 ? { notes: prepared.notes } : {}),
  };
}
