/**
 * The memory budget: the largest image a model handles well, and an estimate of a generation's peak
 * memory, so that requests are refused (with what would fit) or batched before they can exhaust the
 * host, instead of being found out by the kernel's OOM killer.
 */
import { statSync } from 'node:fs';
import type { ModelSpec } from './families/types.js';

/**
 * Activation bytes per image pixel for one denoiser pass of one image, by family: measured on the
 * shipped model (≈ 230 MB extra peak RSS for one 512² image with guidance, i.e. two passes), and
 * conservative figures for the large families (fp32 ONNX on the CPU).
 */
const BYTES_PER_PIXEL: Record<ModelSpec['family'], number> = {
  flowbot: 450,
  sd: 3000,
  sdxl: 3000,
  sd3: 3500,
  flux: 4000,
};

/** How many times its native area a model may be asked for (the shipped model: 128² from 64²). */
const MAX_AREA_FACTOR = 4;

/** The largest image area (pixels) the model handles well. */
export function maxArea(spec: ModelSpec): number {
  return spec.nativeSize.width * spec.nativeSize.height * MAX_AREA_FACTOR;
}

/** The largest size of this aspect ratio within the model's area, in its size multiple. */
export function largestSize(
  spec: ModelSpec,
  width: number,
  height: number,
): { width: number; height: number } {
  const m = spec.sizeMultiple;
  const scale = Math.sqrt(maxArea(spec) / (width * height));
  const within = (side: number) => Math.max(m, Math.floor((side * scale) / m) * m);
  return { width: within(width), height: within(height) };
}

/** What an operation's peak memory depends on. */
export interface MemoryRequest {
  readonly width: number;
  readonly height: number;
  /** Images denoised together. */
  readonly batch: number;
  /** Classifier-free guidance doubles the batch the denoiser sees. */
  readonly guided: boolean;
}

const weightsCache = new Map<string, number>();

/** Megabytes of the model's ONNX files (and their external data), read once. */
function weightsMB(spec: ModelSpec): number {
  let mb = weightsCache.get(spec.dir);
  if (mb === undefined) {
    mb = 0;
    for (const file of Object.values(spec.files)) {
      if (!file) continue;
      for (const candidate of [file, `${file}_data`, `${file}.data`]) {
        try {
          mb += statSync(candidate).size / 1e6;
        } catch {
          // no such file: nothing to add
        }
      }
    }
    weightsCache.set(spec.dir, mb);
  }
  return mb;
}

/** Estimated peak memory (MB) of one denoise-and-decode: weights, activations, latents and pixels. */
export function estimatePeakMB(spec: ModelSpec, request: MemoryRequest): number {
  const pixels = request.width * request.height;
  const passes = request.batch * (request.guided ? 2 : 1);
  const activations = (BYTES_PER_PIXEL[spec.family] * pixels * passes) / 1e6;
  // Pixels as floats and bytes, per image, plus the grid.
  const images = (pixels * 3 * 5 * request.batch) / 1e6;
  return Math.ceil(weightsMB(spec) + activations + images);
}

/**
 * Peak bytes per pixel of an exact edit: the parent's PNG decoded, sharp's output and its PNG. Measured
 * on a 4096² image (`npm run bench -- edits`): about 7 for sharp's operations and 21 for a backdrop
 * recolour, which first finds the backdrop's mask from the pixels; rounded up.
 */
const EDIT_BYTES_PER_PIXEL = { sharp: 10, recolour: 30 } as const;

/** Estimated peak memory (MB) of one exact edit of a `width`×`height` image. */
export function estimateEditMB(width: number, height: number, recolour: boolean): number {
  return Math.ceil((width * height * EDIT_BYTES_PER_PIXEL[recolour ? 'recolour' : 'sharp']) / 1e6);
}

/**
 * Peak bytes per pixel (of the result) of bringing an edit made at the model's size back to a larger
 * image, and the fixed cost of the super-resolution model's session and tiles. Measured with
 * `npm run bench -- repaint` on the shipped model at 4096×2304: the peak RSS rose by about 18 bytes a
 * pixel for img2img and 101 for inpainting (the mask, its feathered copy and the blend as floats), and
 * by about 90 MB at 1280×768 whatever the kind (the upscaler); rounded up.
 */
const BRING_BACK = { bytesPerPixel: 30, maskedBytesPerPixel: 110, upscalerMB: 100 } as const;

/**
 * Estimated peak memory (MB) of bringing `n` edited images back to `width`×`height`; `masked` for a
 * region edit or outpainting, whose untouched pixels are blended back in. Each further result of a
 * variation is held at 3 bytes a pixel while the next is brought back.
 */
export function estimateBringBackMB(width: number, height: number, n = 1, masked = false): number {
  const perPixel = masked ? BRING_BACK.maskedBytesPerPixel : BRING_BACK.bytesPerPixel;
  return BRING_BACK.upscalerMB + Math.ceil((width * height * (perPixel + 3 * (n - 1))) / 1e6);
}

/** The largest batch (≤ n) whose estimate fits the budget; 0 when not even one image fits. */
export function batchWithin(
  spec: ModelSpec,
  request: Omit<MemoryRequest, 'batch'>,
  n: number,
  budgetMB: number,
): number {
  for (let batch = n; batch >= 1; batch--) {
    if (estimatePeakMB(spec, { ...request, batch }) <= budgetMB) return batch;
  }
  return 0;
}
