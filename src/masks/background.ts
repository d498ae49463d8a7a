/**
 * "The background" as a mask. On a plain backdrop (the shipped model's emoji always have one) it is the
 * pixels connected to the image's border whose colour matches the border's, with a soft edge; anywhere
 * else it falls back to the border band that the "border" region names. The subject is its complement.
 */
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
  const distance = (i: number) =>
    Math.hypot(pixels[3 * i]! - colour[0]!, pixels[3 * i + 1]! - colour[1]!, pixels[3 * i + 2]! - colour[2]!);
  const matching = border.filter((i) => distance(i) < TOLERANCE);
  if (matching.length < PLAIN_SHARE * border.length) {
    const band = parseRegion('border');
    return {
      mask: band.ok ? regionMask(band.value, width, height) : new Float32Array(width * height),
      method: 'border band',
    };
  }
  // Flood from the matching border pixels through pixels of the backdrop's colour (4-connected).
  const mask = new Float32Array(width * height);
  const stack = [...matching];
  for (const i of stack) mask[i] = 1;
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % width;
    const neighbours = [x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, i - width, i + width];
    for (const j of neighbours) {
      if (j < 0 || j >= mask.length || mask[j] === 1 || distance(j) >= TOLERANCE) continue;
      mask[j] = 1;
      stack.push(j);
    }
  }
  // A soft edge that never reaches into the subject: background pixels fade near it, subject stays 0.
  const soft = await blurMask(mask, width, height, Math.max(0.8, width / 96));
  return { mask: mask.map((m, i) => (m === 1 ? soft[i]! : 0)), method: 'backdrop' };
}

/** The subject: everything that is not background. */
export function subjectOf(background: Float32Array): Float32Array {
  return background.map((m) => 1 - m);
}
