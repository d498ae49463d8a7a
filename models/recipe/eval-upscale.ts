/**
 * Upscaler quality for the model card: held-out emoji art downscaled ×4 (Lanczos), then upscaled ×4 by
 * each shipped ESRGAN and by Lanczos, compared with the original (PSNR on RGB, SSIM on luminance).
 * Writes flowbot-emoji/upscale-metrics.json, which evaluate.py puts into MODEL_CARD.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type RgbImage, resizeRgb } from '../../src/pipeline/image.js';
import { loadUpscalerSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';

const root = path.resolve(import.meta.dirname, '..');
const meta = JSON.parse(readFileSync(path.join(root, 'dataset', 'meta.json'), 'utf8')) as {
  size: number;
  items: { split: string }[];
};
const data = readFileSync(path.join(root, 'dataset', 'images.u8'));
const size = meta.size;
const held = meta.items
  .flatMap((item, i) => (item.split === 'heldout' ? [i] : []))
  .filter((_, k) => k % 4 === 0);

function psnr(a: RgbImage, b: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < a.pixels.length; i++) sum += (a.pixels[i]! - b.pixels[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / Math.max(sum / a.pixels.length, 1e-10));
}

/** Mean SSIM over 8×8 windows (stride 4) of luminance. */
function ssim(a: RgbImage, b: RgbImage): number {
  const luma = (img: RgbImage) =>
    Float64Array.from(
      { length: img.width * img.height },
      (_, i) => 0.299 * img.pixels[3 * i]! + 0.587 * img.pixels[3 * i + 1]! + 0.114 * img.pixels[3 * i + 2]!,
    );
  const x = luma(a);
  const y = luma(b);
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let total = 0;
  let windows = 0;
  for (let wy = 0; wy + 8 <= a.height; wy += 4) {
    for (let wx = 0; wx + 8 <= a.width; wx += 4) {
      let mx = 0,
        my = 0,
        vx = 0,
        vy = 0,
        cov = 0;
      for (let j = 0; j < 8; j++)
        for (let i = 0; i < 8; i++) {
          const k = (wy + j) * a.width + wx + i;
          mx += x[k]!;
          my += y[k]!;
        }
      mx /= 64;
      my /= 64;
      for (let j = 0; j < 8; j++)
        for (let i = 0; i < 8; i++) {
          const k = (wy + j) * a.width + wx + i;
          vx += (x[k]! - mx) ** 2;
          vy += (y[k]! - my) ** 2;
          cov += (x[k]! - mx) * (y[k]! - my);
        }
      vx /= 63;
      vy /= 63;
      cov /= 63;
      total += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      windows++;
    }
  }
  return total / windows;
}

const pipeline = new Pipeline(new OnnxBackend({ executionProvider: 'cpu' }));
const upscalers = ['esrgan-slim', 'esrgan-medium'].map((name) => loadUpscalerSpec(path.join(root, name)));
const scores = new Map<string, { psnr: number; ssim: number }>();
for (const index of held) {
  const original: RgbImage = {
    width: size,
    height: size,
    pixels: new Uint8Array(data.subarray(index * size * size * 3, (index + 1) * size * size * 3)),
  };
  const small = await resizeRgb(original, size / 4, size / 4);
  const candidates: [string, RgbImage][] = [['lanczos', await resizeRgb(small, size, size)]];
  for (const spec of upscalers)
    candidates.push([
      spec.name,
      (await pipeline.upscale({ image: small, scale: 4, upscaler: spec })).images[0]!,
    ]);
  for (const [name, image] of candidates) {
    const s = scores.get(name) ?? { psnr: 0, ssim: 0 };
    s.psnr += psnr(image, original);
    s.ssim += ssim(image, original);
    scores.set(name, s);
  }
}
const rows = [...scores].map(([name, s]) => ({
  name,
  psnr: s.psnr / held.length,
  ssim: s.ssim / held.length,
  images: held.length,
}));
console.table(rows);
writeFileSync(path.join(root, 'flowbot-emoji', 'upscale-metrics.json'), `${JSON.stringify(rows, null, 2)}\n`);
