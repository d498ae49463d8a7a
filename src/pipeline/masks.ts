/** Masks at the pipeline's resolutions, and compositing the repainted region onto the original. */
import { type RgbImage, resizeRgb } from './image.js';

/** Max-pools a pixel mask to latent resolution, so the repainted latent area covers every masked pixel. */
export function downsampleMask(
  mask: Float32Array,
  width: number,
  height: number,
  factor: number,
): Float32Array {
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

/** Resizes a 0/1 mask (nearest after Lanczos, thresholded at ½). */
export async function resizeMask(
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
export function composite(original: RgbImage, generated: RgbImage, alpha: Float32Array): RgbImage {
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
