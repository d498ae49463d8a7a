/**
 * The one denoising loop every family and operation shares. Latents stay [n, C, h, w] here; the
 * family's adapter packs them, names the inputs and converts the timestep. Each step: the denoiser's
 * prediction for the prompt (and, with classifier-free guidance, the negative prompt: u + g·(c − u)),
 * then the scheduler's step; inpainting either feeds mask channels (a 9-channel UNet) or blends the
 * known region back in.
 */
import type { ChaosCells } from './chaos.js';
import type { DenoiserAdapter, LatentGeometry, ModelSpec, PromptConditioning } from './families/types.js';
import type { OnnxModel } from './onnx.js';
import { checkAborted, type RunHooks } from './progress.js';
import { SeededRandom } from './random.js';
import type { Scheduler } from './schedulers/index.js';

/** Everything one denoising run needs. */
export interface DenoiseInput {
  readonly spec: ModelSpec;
  readonly model: OnnxModel;
  readonly adapter: DenoiserAdapter;
  readonly scheduler: Scheduler;
  readonly timesteps: readonly number[];
  readonly latents: Float32Array;
  readonly n: number;
  readonly geometry: LatentGeometry;
  readonly conditioning: PromptConditioning;
  readonly guidance: number;
  readonly seed: number;
  readonly hooks: RunHooks;
  /** Images the denoiser sees at once (the memory budget's batch); all n when absent. */
  readonly maxBatch?: number;
  /** A PNG of latents [n, C, h, w], for progress previews. */
  readonly preview?: (latents: Float32Array) => Promise<Uint8Array>;
  /** Native inpainting: mask and masked-image latents appended as channels. */
  readonly native?: { readonly mask: Float32Array; readonly maskedLatents: Float32Array };
  /** `--chaos` above 50: each image's own conditioning and guidance. */
  readonly cells?: ChaosCells;
  /** Blend inpainting: the known region's clean latents and the noise to re-noise them. */
  readonly blend?: {
    readonly mask: Float32Array;
    readonly original: Float32Array;
    readonly noise: Float32Array;
  };
}

/** The latents after the last step. */
export async function denoise(input: DenoiseInput): Promise<Float32Array> {
  const { scheduler, timesteps, hooks, adapter } = input;
  const expected = input.native ? 2 * input.spec.latent.channels + 1 : input.spec.latent.channels;
  if (adapter.inChannels !== expected) {
    throw new Error(
      `${input.model.file}: the denoiser takes ${adapter.inChannels} latent channels; this operation needs ${expected}`,
    );
  }
  const stepNoise = new SeededRandom((input.seed ^ 0x5bd1e995) >>> 0);
  let latents = input.latents;
  const total = timesteps.length;
  for (let i = 0; i < total; i++) {
    checkAborted(hooks.signal);
    const t = timesteps[i]!;
    const scaled = scheduler.scaleModelInput(latents, t);
    const prediction = await predict(input, scaled, t);
    const noise = () => hooks.stepNoise?.(i, latents.length) ?? stepNoise.normals(latents.length);
    const options = scheduler.stochastic ? { noise: noise() } : {};
    const result = scheduler.step(prediction, t, latents, options);
    latents = result.prevSample;
    if (input.blend) latents = blendKnown(input, latents, i);
    let preview: Uint8Array | undefined;
    const due = hooks.previewEvery && (i + 1) % hooks.previewEvery === 0 && i + 1 < total;
    if (due && hooks.onProgress && input.preview) {
      preview = await input.preview(result.predOriginalSample ?? latents);
    }
    hooks.onProgress?.({ step: i + 1, total, ...(preview ? { preview } : {}) });
  }
  checkAborted(hooks.signal);
  return latents;
}

/** The guided prediction for every image at timestep t. */
async function predict(input: DenoiseInput, latents: Float32Array, t: number): Promise<Float32Array> {
  const { n, adapter, conditioning, geometry } = input;
  const { cond, uncond } = conditioning;
  const size = input.spec.latent.channels * geometry.height * geometry.width;
  const plane = geometry.height * geometry.width;
  const inputSize = adapter.inChannels * plane;
  // The per-image model input: the scaled latents, plus inpainting channels for native models.
  const imageInput = (i: number): Float32Array => {
    const scaled = latents.subarray(i * size, (i + 1) * size);
    if (!input.native) return scaled;
    const out = new Float32Array(inputSize);
    out.set(scaled, 0);
    out.set(input.native.mask, size);
    out.set(input.native.maskedLatents, size + plane);
    return out;
  };
  const run = async (images: readonly number[], negative: readonly boolean[]): Promise<Float32Array> => {
    const batch = images.length;
    const sample = new Float32Array(batch * inputSize);
    images.forEach((image, k) => {
      sample.set(imageInput(image), k * inputSize);
    });
    const conditions = images.map((image, k) =>
      negative[k] ? uncond! : (input.cells?.conditioning[image] ?? cond),
    );
    const outputs = await input.model.run(adapter.feeds(sample, batch, t, conditions));
    return adapter.prediction(outputs, batch);
  };
  const prediction = new Float32Array(n * size);
  const unconditional = uncond ? new Float32Array(n * size) : undefined;
  // Images go through in batches: as many as the memory budget allows (one when the graph's batch is fixed).
  const batch = adapter.batchDynamic ? Math.max(1, Math.min(n, input.maxBatch ?? n)) : 1;
  for (let first = 0; first < n; first += batch) {
    const chunk = Array.from({ length: Math.min(batch, n - first) }, (_, k) => first + k);
    const flags = chunk.map(() => false);
    if (adapter.batchDynamic && uncond) {
      // Prompt and negative prompt in one run.
      const out = await run([...chunk, ...chunk], [...flags, ...chunk.map(() => true)]);
      prediction.set(out.subarray(0, chunk.length * size), first * size);
      unconditional!.set(out.subarray(chunk.length * size), first * size);
    } else {
      prediction.set(await run(chunk, flags), first * size);
      if (unconditional)
        unconditional.set(
          await run(
            chunk,
            chunk.map(() => true),
          ),
          first * size,
        );
    }
  }
  if (!unconditional) return prediction;
  const guided = new Float32Array(n * size);
  for (let j = 0; j < guided.length; j++) {
    const g = input.cells?.guidance[Math.floor(j / size)] ?? input.guidance;
    guided[j] = unconditional[j]! + g * (prediction[j]! - unconditional[j]!);
  }
  return guided;
}

/** Puts the known (unmasked) region back, noised to the level of the next step. */
function blendKnown(input: DenoiseInput, latents: Float32Array, index: number): Float32Array {
  const { mask, original, noise } = input.blend!;
  const next = input.timesteps[index + 1];
  const known = next === undefined ? original : input.scheduler.addNoise(original, noise, next);
  const plane = input.geometry.height * input.geometry.width;
  const size = original.length;
  const out = new Float32Array(latents.length);
  for (let j = 0; j < latents.length; j++) {
    const m = mask[(j % size) % plane]!;
    out[j] = m * latents[j]! + (1 - m) * known[j % size]!;
  }
  return out;
}
