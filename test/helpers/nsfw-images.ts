/**
 * Safe images for the moderation classifier's parity test and reference: the shipped model's 16
 * held-out samples (cut from models/flowbot-emoji/samples.png) and deterministic synthetic pictures
 * (SVG shapes, gradients, skin-toned blobs, noise) rendered by sharp. Nothing is downloaded.
 */
import path from 'node:path';
import sharp from 'sharp';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** A named test image, as PNG bytes. */
export interface NamedImage {
  readonly name: string;
  readonly png: Uint8Array;
}

/** The shipped model's samples: a 4×4 grid of 128 px cells. */
export async function shippedSamples(): Promise<NamedImage[]> {
  const file = path.join(ROOT, 'models', 'flowbot-emoji', 'samples.png');
  const out: NamedImage[] = [];
  for (let i = 0; i < 16; i++) {
    const region = { left: (i % 4) * 128, top: Math.floor(i / 4) * 128, width: 128, height: 128 };
    out.push({
      name: `shipped-${i}`,
      png: new Uint8Array(await sharp(file).extract(region).png().toBuffer()),
    });
  }
  return out;
}

/** A small deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const SKIN = ['#f1c27d', '#e0ac69', '#c68642', '#8d5524', '#ffdbac'];

function colour(next: () => number): string {
  return `rgb(${Math.floor(next() * 256)},${Math.floor(next() * 256)},${Math.floor(next() * 256)})`;
}

/** One synthetic picture: its kind cycles with the index, its details come from the seed. */
async function synthetic(index: number): Promise<NamedImage> {
  const next = random(1000 + index);
  const width = 96 + Math.floor(next() * 224);
  const height = 96 + Math.floor(next() * 224);
  const kind = ['shapes', 'gradient', 'skin', 'noise'][index % 4]!;
  if (kind === 'noise') {
    const pixels = new Uint8Array(width * height * 3).map(() => Math.floor(next() * 256));
    const png = await sharp(pixels, { raw: { width, height, channels: 3 } })
      .blur(0.3 + next() * 3)
      .png()
      .toBuffer();
    return { name: `synthetic-${index}-noise`, png: new Uint8Array(png) };
  }
  const shapes: string[] = [];
  const palette = kind === 'skin' ? () => SKIN[Math.floor(next() * SKIN.length)]! : () => colour(next);
  const count = kind === 'gradient' ? 2 : 3 + Math.floor(next() * 8);
  for (let i = 0; i < count; i++) {
    const [x, y, r] = [next() * width, next() * height, 8 + next() * Math.min(width, height) * 0.4];
    shapes.push(
      next() < 0.5 || kind === 'skin'
        ? `<ellipse cx="${x}" cy="${y}" rx="${r}" ry="${r * (0.5 + next())}" fill="${palette()}"/>`
        : `<rect x="${x - r}" y="${y - r}" width="${2 * r}" height="${r * (0.5 + next() * 1.5)}" fill="${palette()}"/>`,
    );
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="${next()}" y2="1">
      <stop offset="0" stop-color="${colour(next)}"/><stop offset="1" stop-color="${colour(next)}"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>${shapes.join('')}</svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  return { name: `synthetic-${index}-${kind}`, png: new Uint8Array(png) };
}

/** `count` synthetic pictures. */
export async function syntheticImages(count: number): Promise<NamedImage[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => synthetic(i)));
}

/** Every parity image: the 16 shipped samples and 40 synthetic pictures. */
export async function parityImages(): Promise<NamedImage[]> {
  return [...(await shippedSamples()), ...(await syntheticImages(40))];
}

/**
 * The classifier's input for an image, as flowbot prepares it (stretched to 224² with sharp's bilinear
 * kernel, RGB, ÷255, NHWC): the same tensor is fed to nsfwjs and to flowbot's ONNX model.
 */
export async function inputTensor(png: Uint8Array, side = 224): Promise<Float32Array> {
  const data = await sharp(png)
    .removeAlpha()
    .toColourspace('srgb')
    .resize(side, side, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return Float32Array.from(data, (v) => v / 255);
}
