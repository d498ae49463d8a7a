/**
 * "The background" as a mask. On a plain backdrop (the shipped model's emoji always have one) it is the
 * pixels connected to the image's border whose colour matches the border's, with a soft edge; anywhere
 * else it falls back to the border band that the "border" region names. The subject is its complement.
 */
import sharp from 'sharp';
import type { RgbImage } from '../pipeline/image.js';
import { blurMask } from '../pipeline/image.js';
import { parseRegion, regionMask } from './regions.js';

/** How the background was found. */
export type BackgroundMethod = 'backdrop' | 'border band';

/** Colour distance under which a pixel belongs to the backdrop. */
const TOLERANCE = 48;
/** Share of border pixels that must match for the border to count as a plain backdrop. */
const PLAIN_SHARE = 0.7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The background mask (1 = background) of an image, and how it was found. */
export async function backgroundMask(
  image: RgbImage,
): Promise<{ mask: Float32Array; method: BackgroundMethod }> {
  const { width, height, pixels } = image;
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(x, (height - 1) * width + x);
  for (let y = 1; y < height - 1; y++) border.push(y * width, y * width + width - 1);
  const colour = [0, 1, 2].map((c) => median(border.map((i) => pixels[3 * i + c]!)));
  const [r, g, b] = colour as [number, number, number];
  // Squared distances: the same test as the distance under TOLERANCE, without a square root per pixel.
  const matches = (i: number) =>
    (pixels[3 * i]! - r) ** 2 + (pixels[3 * i + 1]! - g) ** 2 + (pixels[3 * i + 2]! - b) ** 2 <
    TOLERANCE * TOLERANCE;
  const matching = border.filter(matches);
  if (matching.length < PLAIN_SHARE * border.length) {
    const band = parseRegion('border');
    return {
      mask: band.ok ? regionMask(band.value, width, height) : new Float32Array(width * height),
      method: 'border band',
    };
  }
  // Flood from the matching border pixels through pixels of the backdrop's colour (4-connected). Each
  // pixel is pushed at most once, so a typed stack of one entry per pixel never overflows.
  const mask = new Float32Array(width * height);
  const stack = new Int32Array(width * height);
  let top = 0;
  const visit = (j: number) => {
    if (mask[j] === 1 || !matches(j)) return;
    mask[j] = 1;
    stack[top++] = j;
  };
  for (const i of matching) visit(i);
  while (top > 0) {
    const i = stack[--top]!;
    const x = i % width;
    if (x > 0) visit(i - 1);
    if (x < width - 1) visit(i + 1);
    if (i >= width) visit(i - width);
    if (i + width < mask.length) visit(i + width);
  }
  // A soft edge that never reaches into the subject: background pixels fade near it, subject stays 0.
  const soft = await softened(mask, width, height);
  return { mask: mask.map((m, i) => (m === 1 ? soft[i]! : 0)), method: 'backdrop' };
}

/**
 * The mask blurred by a Gaussian a 96th of the image's width. On an image larger than
 * {@link ANALYSIS_SIDE} the blur runs on a copy scaled down to it and is scaled back up: a blur that
 * wide is smooth at any resolution, and a kernel hundreds of pixels wide over a 4096² mask took 12 s and
 * 1.3 GB.
 */
async function softened(mask: Float32Array, width: number, height: number): Promise<Float32Array> {
  const sigma = Math.max(0.8, width / 96);
  const small = analysisSize(width, height);
  if (small.width === width && small.height === height) return blurMask(mask, width, height, sigma);
  const raw = (w: number, h: number) => ({ raw: { width: w, height: h, channels: 1 as const } });
  // Plain loops: TypedArray.from with a mapping function first lists every value, gigabytes at 4096².
  const bytes = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) bytes[i] = Math.round(mask[i]! * 255);
  const blurred = await sharp(bytes, raw(width, height))
    .resize(small.width, small.height, { fit: 'fill' })
    .blur(Math.max(0.3, (sigma * small.width) / width))
    .extractChannel(0)
    .raw()
    .toBuffer();
  const { data } = await sharp(blurred, raw(small.width, small.height))
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const soft = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) soft[i] = data[i]! / 255;
  return soft;
}

/**
 * The largest side the chat process analyses an image at: a larger image is read scaled down to it, so
 * finding its background costs the same bounded time and memory whatever its size (an exact recolour
 * then finds the full-size mask in its job, within the queue's limits).
 */
export const ANALYSIS_SIDE = 512;

/** The size an image of `width`×`height` is analysed at: its own, or scaled down to {@link ANALYSIS_SIDE}. */
export function analysisSize(width: number, height: number): { width: number; height: number } {
  const scale = Math.min(1, ANALYSIS_SIDE / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The subject: everything that is not background. */
export function subjectOf(background: Float32Array): Float32Array {
  return background.map((m) => 1 - m);
}
