/**
 * The image engine: generate, vary (img2img and seed jitter), inpaint and upscale, on ONNX models.
 * Every operation runs the same loop: encode the text, draw seeded noise, run the denoiser N times
 * with classifier-free guidance while the scheduler turns predictions into latents, decode.
 */
import { ErrorCode, FlowbotError, UserError } from '../errors.js';
import { blurMask, composeGrid, encodePng, fromTensor, type RgbImage, resizeRgb, toTensor } from './image.js';
import type { ModelSpec, UpscalerSpec } from './model.js';
import type { HostTensor, OnnxBackend, OnnxModel } from './onnx.js';
import { gaussianNoise, SeededRandom, slerp } from './random.js';
import {
  createScheduler,
  img2imgTimesteps,
  type Scheduler,
  type SchedulerConfig,
} from './schedulers/index.js';
import { ClipTokenizer } from './tokenizer.js';

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
}

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
}

/** Image-to-image parameters. */
export interface VaryRequest extends Omit<GenerateRequest, 'width' | 'height' | 'jitter'> {
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
  readonly timings: Readonly<Record<string, number>>;
}

/** Presets of "Vary (Subtle)" and "Vary (Strong)". */
export const VARY_STRENGTH = { subtle: 0.35, strong: 0.7 } as const;

const MAX_SEED = 4_294_967_296;

/** Denoiser properties read from its input metadata. */
interface DenoiserShape {
  readonly batchDynamic: boolean;
  readonly inChannels: number;
  readonly timestep: { readonly dims: 'scalar' | 'one' | 'batch'; readonly integer: boolean };
}

interface DenoiseInput {
  readonly spec: ModelSpec;
  readonly scheduler: Scheduler;
  readonly timesteps: readonly number[];
  latents: Float32Array;
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly cond: HostTensor;
  readonly uncond: HostTensor | undefined;
  readonly guidance: number;
  readonly seed: number;
  readonly hooks: RunHooks;
  /** Native inpainting: mask and masked-image latents appended as channels. */
  readonly native?: { readonly mask: Float32Array; readonly maskedLatents: Float32Array };
  /** Blend inpainting: the known region's clean latents and the noise to re-noise them. */
  readonly blend?: {
    readonly mask: Float32Array;
    readonly original: Float32Array;
    readonly noise: Float32Array;
  };
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new FlowbotError(ErrorCode.JobCancelled, 'cancelled');
}

function isDynamic(dim: number | string | undefined): boolean {
  return typeof dim !== 'number' || dim < 0;
}

/** The pipeline; one per process, sharing one ONNX backend. */
export class Pipeline {
  private readonly backend: OnnxBackend;
  private readonly tokenizers = new Map<string, ClipTokenizer>();

  constructor(backend: OnnxBackend) {
    this.backend = backend;
  }

  /** Sum of session.run times of every model loaded so far, for the efficiency benchmark. */
  async sessionRunMs(spec: ModelSpec): Promise<number> {
    let total = 0;
    for (const file of Object.values(spec.files)) if (file) total += (await this.backend.load(file)).runMs;
    return total;
  }

  /** Rounds a requested size to what the model can make. */
  resolveSize(spec: ModelSpec, width?: number, height?: number): { width: number; height: number } {
    const multiple = spec.sizeMultiple;
    const round = (value: number) => Math.max(multiple, Math.round(value / multiple) * multiple);
    return { width: round(width ?? spec.nativeSize.width), height: round(height ?? spec.nativeSize.height) };
  }

  /** Text to image. */
  async generate(request: GenerateRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    const { model: spec } = request;
    const n = request.n ?? 1;
    const steps = request.steps ?? spec.defaults.steps;
    const guidance = request.guidance ?? spec.defaults.guidance;
    const { width, height } = this.resolveSize(spec, request.width, request.height);
    const text = await this.encodeText(spec, request.prompt, request.negativePrompt ?? '', guidance);
    const scheduler = createScheduler(request.scheduler ?? spec.scheduler);
    scheduler.setTimesteps(steps);
    const [h, w] = [height / spec.latent.downscale, width / spec.latent.downscale];
    const size = spec.latent.channels * h * w;
    const seeds = seedsFrom(request.seed, n);
    const sigma = scheduler.initNoiseSigma;
    const latents = new Float32Array(n * size);
    seeds.forEach((seed, i) => {
      let noise = gaussianNoise(seed, size);
      if (request.jitter) {
        noise = slerp(
          noise,
          gaussianNoise((request.jitter.seed + i) % MAX_SEED, size),
          request.jitter.amount,
        );
      }
      for (let j = 0; j < size; j++) latents[i * size + j] = noise[j]! * sigma;
    });
    const run = await this.denoiseAndDecode({
      spec,
      scheduler,
      timesteps: scheduler.timesteps,
      latents,
      n,
      height: h,
      width: w,
      cond: text.cond,
      uncond: text.uncond,
      guidance,
      seed: request.seed,
      hooks,
    });
    return result(run, {
      seeds,
      width,
      height,
      steps,
      guidance,
      scheduler: scheduler.className,
      started,
      textMs: text.ms,
    });
  }

  /** Image to image: noise the encoded image to the strength's start step, then denoise. */
  async vary(request: VaryRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    const { model: spec, image } = request;
    if (!(request.strength > 0 && request.strength <= 1)) {
      throw new UserError(
        ErrorCode.FlagValue,
        `Expected a number 0.01–1 for strength but received ${request.strength}`,
      );
    }
    const n = request.n ?? 1;
    const steps = request.steps ?? spec.defaults.steps;
    const guidance = request.guidance ?? spec.defaults.guidance;
    const { width, height } = this.resolveSize(spec, image.width, image.height);
    const source =
      image.width === width && image.height === height ? image : await resizeRgb(image, width, height);
    const text = await this.encodeText(spec, request.prompt, request.negativePrompt ?? '', guidance);
    const original = await this.encodeImage(spec, source);
    const scheduler = createScheduler(request.scheduler ?? spec.scheduler);
    scheduler.setTimesteps(steps);
    const timesteps = img2imgTimesteps(scheduler, steps, request.strength);
    const size = original.length;
    const seeds = seedsFrom(request.seed, n);
    const latents = new Float32Array(n * size);
    seeds.forEach((seed, i) => {
      const start =
        timesteps.length > 0
          ? scheduler.addNoise(original, gaussianNoise(seed, size), timesteps[0]!)
          : original;
      latents.set(start, i * size);
    });
    const run = await this.denoiseAndDecode({
      spec,
      scheduler,
      timesteps,
      latents,
      n,
      height: height / spec.latent.downscale,
      width: width / spec.latent.downscale,
      cond: text.cond,
      uncond: text.uncond,
      guidance,
      seed: request.seed,
      hooks,
    });
    return result(run, {
      seeds,
      width,
      height,
      steps,
      guidance,
      scheduler: scheduler.className,
      started,
      textMs: text.ms,
    });
  }

  /**
   * Repaints the masked region. Native 9-channel models get mask and masked-image latents; others blend
   * the known region back in after every step. Pixels outside the mask are then copied from the
   * original, with the edge feathered inwards only, so the unmasked region is unchanged.
   */
  async inpaint(request: InpaintRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    const { model: spec, image } = request;
    const { width, height } = this.resolveSize(spec, image.width, image.height);
    if (request.mask.length !== image.width * image.height) {
      throw new FlowbotError(
        ErrorCode.ImageInvalid,
        `The mask has ${request.mask.length} values for a ${image.width}×${image.height} image`,
      );
    }
    const source =
      image.width === width && image.height === height ? image : await resizeRgb(image, width, height);
    const pixelMask =
      source === image
        ? request.mask
        : await resizeMask(request.mask, image.width, image.height, width, height);
    const n = request.n ?? 1;
    const steps = request.steps ?? spec.defaults.steps;
    const guidance = request.guidance ?? spec.defaults.guidance;
    const strength = request.strength ?? 1;
    const latentMask = downsampleMask(pixelMask, width, height, spec.latent.downscale);
    const text = await this.encodeText(spec, request.prompt, request.negativePrompt ?? '', guidance);
    const native = (await this.denoiserShape(spec)).inChannels === 2 * spec.latent.channels + 1;
    const original = await this.encodeImage(spec, source);
    const scheduler = createScheduler(request.scheduler ?? spec.scheduler);
    scheduler.setTimesteps(steps);
    const timesteps = strength >= 1 ? scheduler.timesteps : img2imgTimesteps(scheduler, steps, strength);
    const size = original.length;
    const seeds = seedsFrom(request.seed, n);
    const noises = seeds.map((seed) => gaussianNoise(seed, size));
    const sigma = scheduler.initNoiseSigma;
    const latents = new Float32Array(n * size);
    noises.forEach((noise, i) => {
      latents.set(
        strength >= 1 ? noise.map((v) => v * sigma) : scheduler.addNoise(original, noise, timesteps[0]!),
        i * size,
      );
    });
    let inpainting: Pick<DenoiseInput, 'native'> | Pick<DenoiseInput, 'blend'>;
    if (native) {
      const masked = toTensor(source);
      const plane = width * height;
      for (let c = 0; c < 3; c++)
        for (let i = 0; i < plane; i++) if (pixelMask[i]! >= 0.5) masked[c * plane + i] = 0;
      inpainting = {
        native: { mask: latentMask, maskedLatents: await this.encodeTensor(spec, masked, width, height) },
      };
    } else {
      inpainting = { blend: { mask: latentMask, original, noise: noises[0]! } };
    }
    const run = await this.denoiseAndDecode({
      spec,
      scheduler,
      timesteps,
      latents,
      n,
      height: height / spec.latent.downscale,
      width: width / spec.latent.downscale,
      cond: text.cond,
      uncond: text.uncond,
      guidance,
      seed: request.seed,
      hooks,
      ...inpainting,
    });
    const feathered = await blurMask(pixelMask, width, height, request.feather ?? Math.max(1, width / 128));
    const alpha = pixelMask.map((m, i) => m * feathered[i]!);
    const composited = { ...run, images: run.images.map((generated) => composite(source, generated, alpha)) };
    return result(composited, {
      seeds,
      width,
      height,
      steps,
      guidance,
      scheduler: scheduler.className,
      started,
      textMs: text.ms,
    });
  }

  /**
   * Upscales by `scale` with a super-resolution model over overlapping tiles (memory bounded by the tile
   * size), or with Lanczos when there is no model; optionally refines with a light img2img pass.
   */
  async upscale(request: UpscaleRequest, hooks: RunHooks = {}): Promise<PipelineResult> {
    const started = performance.now();
    const { image, scale } = request;
    if (![2, 3, 4].includes(scale))
      throw new UserError(ErrorCode.FlagValue, `Expected 2, 3 or 4 for scale but received ${scale}`);
    const width = image.width * scale;
    const height = image.height * scale;
    let result: RgbImage;
    if (request.upscaler) {
      const model = await this.backend.load(request.upscaler.file);
      const upscaled = await tiledSuperResolution(
        model,
        image,
        request.upscaler,
        request.tile ?? request.upscaler.tile,
        hooks,
      );
      result = upscaled.width === width ? upscaled : await resizeRgb(upscaled, width, height);
    } else {
      result = await resizeRgb(image, width, height);
    }
    let steps = 0;
    let guidance = 0;
    let scheduler = request.upscaler ? `sr:${request.upscaler.name}` : 'lanczos';
    if (request.refine) {
      const refined = await this.vary({ ...request.refine, image: result, n: 1 }, hooks);
      result = refined.images[0]!;
      ({ steps, guidance } = refined);
      scheduler = `${scheduler}+${refined.scheduler}`;
    }
    return {
      images: [result],
      seeds: [],
      width: result.width,
      height: result.height,
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

  private tokenizer(spec: ModelSpec): ClipTokenizer {
    let tokenizer = this.tokenizers.get(spec.tokenizer.vocab);
    if (!tokenizer) {
      tokenizer = ClipTokenizer.fromFiles(spec.tokenizer.vocab, spec.tokenizer.merges);
      this.tokenizers.set(spec.tokenizer.vocab, tokenizer);
    }
    return tokenizer;
  }

  /** Prompt (and, with guidance, negative prompt) embeddings, batched when the encoder allows. */
  private async encodeText(spec: ModelSpec, prompt: string, negative: string, guidance: number) {
    const start = performance.now();
    const encoder = await this.backend.load(spec.files.textEncoder);
    const tokenizer = this.tokenizer(spec);
    const ids = (text: string) =>
      Int32Array.from(tokenizer.encodePadded(text, spec.tokenizer.maxLength, spec.tokenizer.padTokenId));
    const outputName = encoder.output('last_hidden_state') ? 'last_hidden_state' : encoder.outputs[0]!.name;
    const length = spec.tokenizer.maxLength;
    const texts = guidance > 1 ? [prompt, negative] : [prompt];
    let embeddings: HostTensor[];
    if (texts.length === 2 && isDynamic(encoder.input('input_ids')?.shape[0])) {
      const batch = new Int32Array(2 * length);
      batch.set(ids(prompt), 0);
      batch.set(ids(negative), length);
      const out = (await encoder.run({ input_ids: { data: batch, dims: [2, length] } }))[outputName]!;
      const half = out.data.length / 2;
      const dims = [1, ...out.dims.slice(1)];
      embeddings = [
        { data: (out.data as Float32Array).slice(0, half), dims },
        { data: (out.data as Float32Array).slice(half), dims },
      ];
    } else {
      embeddings = [];
      for (const text of texts) {
        embeddings.push(
          (await encoder.run({ input_ids: { data: ids(text), dims: [1, length] } }))[outputName]!,
        );
      }
    }
    return { cond: embeddings[0]!, uncond: embeddings[1], ms: performance.now() - start };
  }

  private async denoiserShape(spec: ModelSpec): Promise<DenoiserShape> {
    const unet = await this.backend.load(spec.files.denoiser);
    const sample = unet.input('sample');
    const timestep = unet.input('timestep');
    const hidden = unet.input('encoder_hidden_states');
    if (!sample || !timestep || !hidden) {
      throw new FlowbotError(
        ErrorCode.ModelInvalid,
        `${unet.file}: expected inputs sample, timestep and encoder_hidden_states but found ${unet.inputs.map((i) => i.name).join(', ')}`,
      );
    }
    const channels = sample.shape[1];
    if (typeof channels !== 'number')
      throw new FlowbotError(
        ErrorCode.ModelInvalid,
        `${unet.file}: input "sample" needs a fixed channel count`,
      );
    return {
      batchDynamic: isDynamic(sample.shape[0]),
      inChannels: channels,
      timestep: {
        dims: timestep.shape.length === 0 ? 'scalar' : timestep.shape[0] === 1 ? 'one' : 'batch',
        integer: timestep.type === 'int64' || timestep.type === 'int32',
      },
    };
  }

  /** Runs the denoiser on a batch of latents at one timestep, with or without guidance. */
  private async predict(
    unet: OnnxModel,
    shape: DenoiserShape,
    input: DenoiseInput,
    latents: Float32Array,
    t: number,
  ): Promise<Float32Array> {
    const { n, height, width, spec } = input;
    const channels = spec.latent.channels;
    const size = channels * height * width;
    const plane = height * width;
    const guided = input.uncond !== undefined && input.guidance > 1;
    // Build the per-image model input (scaled latents, plus inpainting channels for native models).
    const modelInput = (i: number): Float32Array => {
      const scaled = latents.subarray(i * size, (i + 1) * size);
      if (!input.native) return scaled;
      const out = new Float32Array(shape.inChannels * plane);
      out.set(scaled, 0);
      out.set(input.native.mask, size);
      out.set(input.native.maskedLatents, size + plane);
      return out;
    };
    const run = async (images: number[], embedding: HostTensor[]): Promise<Float32Array> => {
      const batch = images.length;
      const sample = new Float32Array(batch * shape.inChannels * plane);
      images.forEach((image, k) => {
        sample.set(modelInput(image), k * shape.inChannels * plane);
      });
      const hiddenSize = embedding[0]!.data.length;
      const hidden = new Float32Array(batch * hiddenSize);
      embedding.forEach((e, k) => {
        hidden.set(e.data as Float32Array, k * hiddenSize);
      });
      const count = shape.timestep.dims === 'batch' ? batch : 1;
      const timestep: HostTensor = {
        data: shape.timestep.integer
          ? new Int32Array(count).fill(Math.round(t))
          : new Float32Array(count).fill(t),
        dims: shape.timestep.dims === 'scalar' ? [] : [count],
      };
      const out = await unet.run({
        sample: { data: sample, dims: [batch, shape.inChannels, height, width] },
        timestep,
        encoder_hidden_states: { data: hidden, dims: [batch, ...embedding[0]!.dims.slice(1)] },
      });
      return (out.out_sample ?? Object.values(out)[0]!).data as Float32Array;
    };
    const indices = Array.from({ length: n }, (_, i) => i);
    let cond: Float32Array;
    let uncond: Float32Array | undefined;
    if (shape.batchDynamic) {
      const images = guided ? [...indices, ...indices] : indices;
      const embeddings = images.map((_, k) => (guided && k >= n ? input.uncond! : input.cond));
      const out = await run(images, embeddings);
      cond = out.subarray(0, n * size);
      if (guided) uncond = out.subarray(n * size);
    } else {
      cond = new Float32Array(n * size);
      uncond = guided ? new Float32Array(n * size) : undefined;
      for (const i of indices) {
        cond.set(await run([i], [input.cond]), i * size);
        if (uncond) uncond.set(await run([i], [input.uncond!]), i * size);
      }
    }
    if (!uncond) return cond;
    const guidedOut = new Float32Array(n * size);
    for (let j = 0; j < guidedOut.length; j++)
      guidedOut[j] = uncond[j]! + input.guidance * (cond[j]! - uncond[j]!);
    return guidedOut;
  }

  /** Runs the denoising loop and decodes, timing both. */
  private async denoiseAndDecode(input: DenoiseInput): Promise<DenoiseRun> {
    const start = performance.now();
    const final = await this.denoise(input);
    const decodeStart = performance.now();
    const images = await this.decode(
      input.spec,
      final,
      input.n,
      input.height,
      input.width,
      input.hooks.signal,
    );
    return { images, denoiseMs: decodeStart - start, decodeMs: performance.now() - decodeStart };
  }

  private async denoise(input: DenoiseInput): Promise<Float32Array> {
    const { scheduler, timesteps, hooks } = input;
    const unet = await this.backend.load(input.spec.files.denoiser);
    const shape = await this.denoiserShape(input.spec);
    const expected = input.native ? 2 * input.spec.latent.channels + 1 : input.spec.latent.channels;
    if (shape.inChannels !== expected) {
      throw new FlowbotError(
        ErrorCode.ModelInvalid,
        `${unet.file}: input "sample" has ${shape.inChannels} channels; this operation needs ${expected}`,
      );
    }
    const stepNoise = new SeededRandom((input.seed ^ 0x5bd1e995) >>> 0);
    let latents = input.latents;
    const total = timesteps.length;
    for (let i = 0; i < total; i++) {
      checkAborted(hooks.signal);
      const t = timesteps[i]!;
      const scaled = scheduler.scaleModelInput(latents, t);
      const prediction = await this.predict(unet, shape, input, scaled, t);
      const options = scheduler.stochastic ? { noise: stepNoise.normals(latents.length) } : {};
      const result = scheduler.step(prediction, t, latents, options);
      latents = result.prevSample;
      if (input.blend) latents = this.blendKnown(input, latents, i);
      let preview: Uint8Array | undefined;
      if (hooks.previewEvery && hooks.onProgress && (i + 1) % hooks.previewEvery === 0 && i + 1 < total) {
        preview = await this.preview(input, result.predOriginalSample ?? latents);
      }
      hooks.onProgress?.({ step: i + 1, total, ...(preview ? { preview } : {}) });
    }
    checkAborted(hooks.signal);
    return latents;
  }

  /** Puts the known (unmasked) region back, noised to the level of the next step. */
  private blendKnown(input: DenoiseInput, latents: Float32Array, index: number): Float32Array {
    const { mask, original, noise } = input.blend!;
    const next = input.timesteps[index + 1];
    const known = next === undefined ? original : input.scheduler.addNoise(original, noise, next);
    const plane = input.height * input.width;
    const size = original.length;
    const out = new Float32Array(latents.length);
    for (let j = 0; j < latents.length; j++) {
      const m = mask[(j % size) % plane]!;
      out[j] = m * latents[j]! + (1 - m) * known[j % size]!;
    }
    return out;
  }

  /** A cheap preview: latents → RGB by the model's linear factors, upscaled to at most 128 px. */
  private async preview(input: DenoiseInput, latents: Float32Array): Promise<Uint8Array> {
    const { height, width, spec } = input;
    const plane = height * width;
    const factors = spec.latentRgb;
    const cells: RgbImage[] = [];
    for (let i = 0; i < input.n; i++) {
      const rgb = new Float32Array(3 * plane);
      const base = i * spec.latent.channels * plane;
      for (let c = 0; c < Math.min(factors.length, spec.latent.channels); c++) {
        for (let k = 0; k < 3; k++) {
          const f = factors[c]![k]!;
          for (let p = 0; p < plane; p++) rgb[k * plane + p]! += f * latents[base + c * plane + p]!;
        }
      }
      const cell = fromTensor(rgb, width, height);
      const factor = Math.max(1, Math.floor(128 / Math.max(width, height)));
      cells.push(factor > 1 ? await resizeRgb(cell, width * factor, height * factor) : cell);
    }
    return encodePng(await composeGrid(cells));
  }

  private async encodeImage(spec: ModelSpec, image: RgbImage): Promise<Float32Array> {
    return this.encodeTensor(spec, toTensor(image), image.width, image.height);
  }

  /** Pixels → scaled latents: (z − shift)·scale, z being the VAE's mean. */
  private async encodeTensor(
    spec: ModelSpec,
    pixels: Float32Array,
    width: number,
    height: number,
  ): Promise<Float32Array> {
    if (!spec.files.vaeEncoder) {
      throw new UserError(
        ErrorCode.ModelInvalid,
        `The model ${spec.name} has no image encoder, so it cannot vary or edit images.`,
      );
    }
    const encoder = await this.backend.load(spec.files.vaeEncoder);
    const inputName = encoder.inputs[0]!.name;
    const out = await encoder.run({ [inputName]: { data: pixels, dims: [1, 3, height, width] } });
    const tensor = out.latent_parameters ?? out.latent_sample ?? Object.values(out)[0]!;
    const channels = spec.latent.channels;
    const plane = (height / spec.latent.downscale) * (width / spec.latent.downscale);
    const mean = (tensor.data as Float32Array).subarray(0, channels * plane);
    if (tensor.dims[1] !== channels && tensor.dims[1] !== 2 * channels) {
      throw new FlowbotError(
        ErrorCode.ModelInvalid,
        `${encoder.file}: output has ${tensor.dims[1]} channels; expected ${channels} or ${2 * channels}`,
      );
    }
    return mean.map((z) => (z - spec.latent.shift) * spec.latent.scale);
  }

  private async decode(
    spec: ModelSpec,
    latents: Float32Array,
    n: number,
    h: number,
    w: number,
    signal?: AbortSignal,
  ): Promise<RgbImage[]> {
    const decoder = await this.backend.load(spec.files.vaeDecoder);
    const inputName = decoder.inputs[0]!.name;
    const size = spec.latent.channels * h * w;
    const images: RgbImage[] = [];
    for (let i = 0; i < n; i++) {
      checkAborted(signal);
      const z = latents
        .subarray(i * size, (i + 1) * size)
        .map((v) => v / spec.latent.scale + spec.latent.shift);
      const out = await decoder.run({ [inputName]: { data: z, dims: [1, spec.latent.channels, h, w] } });
      const pixels = (out.sample ?? Object.values(out)[0]!) as HostTensor;
      images.push(fromTensor(pixels.data as Float32Array, pixels.dims[3]!, pixels.dims[2]!));
    }
    return images;
  }
}

/** What one denoise-and-decode pass produced. */
interface DenoiseRun {
  readonly images: RgbImage[];
  readonly denoiseMs: number;
  readonly decodeMs: number;
}

/** Seeds of `n` images: image i uses seed + i (wrapping at 2^32), so a grid cell can be made again alone. */
function seedsFrom(seed: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed + i) % MAX_SEED);
}

/** The result of an operation, with its timings. */
function result(
  run: DenoiseRun,
  meta: {
    seeds: number[];
    width: number;
    height: number;
    steps: number;
    guidance: number;
    scheduler: string;
    started: number;
    textMs: number;
  },
): PipelineResult {
  return {
    images: run.images,
    seeds: meta.seeds,
    width: meta.width,
    height: meta.height,
    steps: meta.steps,
    guidance: meta.guidance,
    scheduler: meta.scheduler,
    timings: {
      textEncoder: meta.textMs,
      denoise: run.denoiseMs,
      decode: run.decodeMs,
      total: performance.now() - meta.started,
    },
  };
}

/** Max-pools a pixel mask to latent resolution, so the repainted latent area covers every masked pixel. */
function downsampleMask(mask: Float32Array, width: number, height: number, factor: number): Float32Array {
  const w = width / factor;
  const h = height / factor;
  const out = new Float32Array(w * h);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const index = Math.floor(y / factor) * w + Math.floor(x / factor);
      out[index] = Math.max(out[index]!, mask[y * width + x]!);
    }
  }
  return out;
}

async function resizeMask(
  mask: Float32Array,
  w0: number,
  h0: number,
  w1: number,
  h1: number,
): Promise<Float32Array> {
  const rgb = new Uint8Array(w0 * h0 * 3);
  for (let i = 0; i < mask.length; i++) rgb.fill(mask[i]! >= 0.5 ? 255 : 0, 3 * i, 3 * i + 3);
  const resized = await resizeRgb({ width: w0, height: h0, pixels: rgb }, w1, h1);
  return Float32Array.from({ length: w1 * h1 }, (_, i) => (resized.pixels[3 * i]! >= 128 ? 1 : 0));
}

/** original·(1 − α) + generated·α, per pixel. */
function composite(original: RgbImage, generated: RgbImage, alpha: Float32Array): RgbImage {
  const pixels = new Uint8Array(original.pixels.length);
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i]!;
    for (let c = 0; c < 3; c++) {
      const k = 3 * i + c;
      pixels[k] =
        a === 0 ? original.pixels[k]! : Math.round(original.pixels[k]! * (1 - a) + generated.pixels[k]! * a);
    }
  }
  return { width: original.width, height: original.height, pixels };
}

/**
 * Runs a super-resolution model over overlapping tiles. Each tile's contribution is weighted by a ramp
 * that is zero within `margin` pixels of an inner tile edge (where the network sees padding instead of
 * image) and one beyond the overlap, so seams blend away. Output rows are finished band by band, so
 * the float accumulators hold one band, not the whole image.
 */
async function tiledSuperResolution(
  model: OnnxModel,
  image: RgbImage,
  spec: UpscalerSpec,
  tileSize: number,
  hooks: RunHooks,
): Promise<RgbImage> {
  const scale = spec.scale;
  const tile = Math.max(16, Math.min(tileSize, Math.max(image.width, image.height)));
  const overlap = Math.min(16, Math.floor(tile / 4));
  const margin = Math.min(4, overlap - 1);
  const stride = tile - 2 * overlap;
  const starts = (length: number): number[] => {
    if (length <= tile) return [0];
    const out: number[] = [];
    for (let s = 0; ; s += stride) {
      if (s + tile >= length) {
        out.push(length - tile);
        break;
      }
      out.push(s);
    }
    return out;
  };
  const xs = starts(image.width);
  const ys = starts(image.height);
  const outWidth = image.width * scale;
  const outHeight = image.height * scale;
  const output = new Uint8Array(outWidth * outHeight * 3);
  const bandRows = tile * scale;
  let bandTop = 0; // output row where the accumulators begin
  const sums = new Float32Array(bandRows * 2 * outWidth * 3);
  const weights = new Float32Array(bandRows * 2 * outWidth);
  const inputName = model.inputs[0]!.name;
  const total = xs.length * ys.length;
  let done = 0;
  const ramp = (distance: number, atBorder: boolean) =>
    atBorder ? 1 : Math.min(1, Math.max(0, (distance - margin) / Math.max(1, overlap - margin)));
  for (let row = 0; row < ys.length; row++) {
    const y0 = ys[row]!;
    const th = Math.min(tile, image.height - y0);
    for (const x0 of xs) {
      checkAborted(hooks.signal);
      const tw = Math.min(tile, image.width - x0);
      const input = new Float32Array(3 * tw * th);
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) {
          const p = ((y0 + y) * image.width + x0 + x) * 3;
          for (let c = 0; c < 3; c++)
            input[c * tw * th + y * tw + x] = (image.pixels[p + c]! / 255) * spec.inputScale;
        }
      }
      const out = await model.run({ [inputName]: { data: input, dims: [1, 3, th, tw] } });
      const result = (out.output ?? Object.values(out)[0]!) as HostTensor;
      const data = result.data as Float32Array;
      const ow = tw * scale;
      const oh = th * scale;
      if (result.dims[2] !== oh || result.dims[3] !== ow) {
        throw new FlowbotError(
          ErrorCode.ModelInvalid,
          `${model.file}: expected a ×${scale} output of ${ow}×${oh} but received ${result.dims[3]}×${result.dims[2]}`,
        );
      }
      for (let y = 0; y < oh; y++) {
        const wy = Math.min(ramp(y / scale, y0 === 0), ramp((oh - 1 - y) / scale, y0 + th >= image.height));
        const bandRow = y0 * scale + y - bandTop;
        for (let x = 0; x < ow; x++) {
          const wx = Math.min(ramp(x / scale, x0 === 0), ramp((ow - 1 - x) / scale, x0 + tw >= image.width));
          const weight = wx * wy;
          if (weight === 0) continue;
          const target = bandRow * outWidth + x0 * scale + x;
          weights[target]! += weight;
          for (let c = 0; c < 3; c++) {
            const value =
              Math.min(spec.inputScale, Math.max(0, data[c * ow * oh + y * ow + x]!)) / spec.inputScale;
            sums[target * 3 + c]! += weight * value;
          }
        }
      }
      hooks.onProgress?.({ step: ++done, total });
    }
    // Rows above the next tile row's start receive no more contributions: finish them.
    const finishedUntil = row + 1 < ys.length ? ys[row + 1]! * scale : outHeight;
    for (let y = bandTop; y < finishedUntil; y++) {
      for (let x = 0; x < outWidth; x++) {
        const k = (y - bandTop) * outWidth + x;
        const weight = weights[k]!;
        for (let c = 0; c < 3; c++)
          output[(y * outWidth + x) * 3 + c] = Math.round((sums[k * 3 + c]! / (weight || 1)) * 255);
      }
    }
    const keep = (finishedUntil - bandTop) * outWidth;
    // Slide the band up in place (no new buffers per band, so memory stays flat).
    sums.copyWithin(0, keep * 3).fill(0, sums.length - keep * 3);
    weights.copyWithin(0, keep).fill(0, weights.length - keep);
    bandTop = finishedUntil;
  }
  return { width: outWidth, height: outHeight, pixels: output };
}
