/** Image helpers shared by the pipeline tests. */
import type { RgbImage } from '../../src/pipeline/image.js';

/** The largest per-channel difference between two images, optionally only where `where(pixel)`. */
export function maxDiff(a: RgbImage, b: RgbImage, where?: (pixel: number) => boolean): number {
  let worst = 0;
  for (let i = 0; i < a.pixels.length; i++) {
    if (where && !where(Math.floor(i / 3))) continue;
    worst = Math.max(worst, Math.abs(a.pixels[i]! - b.pixels[i]!));
  }
  return worst;
}

/** A smooth test picture: red grows to the right, green downwards. */
export function gradient(width: number, height: number): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      pixels[i] = (x * 255) / width;
      pixels[i + 1] = (y * 255) / height;
      pixels[i + 2] = ((x + y) * 127) / (width + height);
    }
  }
  return { width, height, pixels };
}
