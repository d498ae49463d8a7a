/**
 * Upscaler quality for the model card, PSNR on RGB and SSIM on luminance, for each shipped upscaler and
 * for Lanczos: held-out emoji art downscaled ×4 (Lanczos) then upscaled ×4, against the original; and,
 * with the 256 px data build, held-out 64 px renders upscaled ×4 against the 256 px renders.
 * Writes flowbot-emoji/upscale-metrics.json, which evaluate.py puts into MODEL_CARD.md.
 */
import { existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type RgbImage, resizeRgb } from '../../src/pipeline/image.js';
import { loadUpscalerSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';

const root = path.resolve(import.meta.dirname, '..');
const meta = JSON.parse(readFileSync(path.join(root, 'dataset', 'meta.json'), 'utf8')) as {
  size: number;
  items: { split: string; source: string }[];
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
const upscalers = ['emoji-sr', 'esrgan-slim', 'esrgan-medium']
  .filter((name) => existsSync(path.join(root, name, 'model.onnx')))
  .map((name) => loadUpscalerSpec(path.join(root, name)));

/** Scores every upscaler and Lanczos on (small, original) pairs. */
async function score(protocol: string, pairs: [RgbImage, RgbImage][]) {
  const scores = new Map<string, { psnr: number; ssim: number }>();
  for (const [small, original] of pairs) {
    const candidates: [string, RgbImage][] = [
      ['lanczos', await resizeRgb(small, original.width, original.height)],
    ];
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
  return [...scores].map(([name, s]) => ({
    name,
    protocol,
    psnr: s.psnr / pairs.length,
    ssim: s.ssim / pairs.length,
    images: pairs.length,
  }));
}

const imageAt = (bytes: Buffer, side: number, index: number): RgbImage => ({
  width: side,
  height: side,
  pixels: new Uint8Array(bytes.subarray(index * side * side * 3, (index + 1) * side * side * 3)),
});

// Held-out art downscaled x4 (Lanczos), then upscaled x4: the protocol of the first model card.
const downscaled: [RgbImage, RgbImage][] = [];
for (const index of held) {
  const original = imageAt(data, size, index);
  downscaled.push([await resizeRgb(original, size / 4, size / 4), original]);
}
const rows = await score('held-out 64 px art, shrunk to 16 px, x4', downscaled);

// As used: a 64 px image (the generator's size) upscaled x4 against the 256 px render of the same
// vector emoji (the held-out SVG sources), when the 256 px data build is there.
const hiDir = path.join(root, 'dataset256');
if (existsSync(path.join(hiDir, 'images.u8'))) {
  // Larger than one read can take: each image is read at its offset.
  const hi = openSync(path.join(hiDir, 'images.u8'), 'r');
  const hiImage = (index: number): RgbImage => {
    const pixels = new Uint8Array(256 * 256 * 3);
    readSync(hi, pixels, 0, pixels.length, index * pixels.length);
    return { width: 256, height: 256, pixels };
  };
  const vector = (source: string) => source.startsWith('@iconify-json/');
  const items = meta.items;
  const pairs: [RgbImage, RgbImage][] = items
    .flatMap((item, i) => (item.split === 'heldout' && vector(item.source) ? [i] : []))
    .filter((_, k) => k % 2 === 0)
    .map((i) => [imageAt(data, size, i), hiImage(i)]);
  rows.push(...(await score('held-out 64 px render vs its 256 px render, x4', pairs)));
}
console.table(rows);
writeFileSync(path.join(root, 'flowbot-emoji', 'upscale-metrics.json'), `${JSON.stringify(rows, null, 2)}\n`);
