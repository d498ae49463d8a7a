/**
 * Image I/O: the one place that turns files into tensors and tensors into files (sharp).
 * Inside the pipeline an image is RGB, channels-first float32 in [-1, 1]; a mask is float32 in [0, 1],
 * 1 meaning "repaint".
 */
import sharp from 'sharp';
import { ErrorCode, UserError } from '../errors.js';
import { admitImage, type ImageFacts, MAX_INPUT_PIXELS } from '../intake/inspect.js';
import { addPngText } from './png.js';

/** Raw 8-bit RGB pixels. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width × height × 3 bytes, row-major, interleaved. */
  readonly pixels: Uint8Array;
}

function notAnImage(what: string): UserError {
  return new UserError(
    ErrorCode.ImageInvalid,
    `That ${what} is not an image I can read: send a PNG, JPEG, WebP or GIF.`,
  );
}

/**
 * Runs a decode on bytes that image intake admitted (format, declared size, metadata); any refusal is
 * already friendly, and any decoder failure becomes "not an image I can read".
 */
async function decodeAdmitted<T>(
  input: Buffer | string,
  what: string,
  decode: (bytes: Buffer, facts: ImageFacts) => Promise<T>,
): Promise<T> {
  const { bytes, facts } = await admitImage(input, what);
  try {
    return await decode(bytes, facts);
  } catch {
    throw notAnImage(what);
  }
}

/** Decodes a PNG, JPEG or WebP into RGB, optionally resized (cover-cropped) to a size. */
export function readImage(
  input: Buffer | string,
  size?: { width: number; height: number },
): Promise<RgbImage> {
  return decodeAdmitted(input, 'file', async (bytes) => {
    let pipeline = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb');
    if (size) pipeline = pipeline.resize(size.width, size.height, { fit: 'cover', kernel: 'lanczos3' });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return {
      width: info.width,
      height: info.height,
      pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  });
}

/** How an upload is brought to flowbot's own form: no side above `maxSide`, or exactly `size` (cover-cropped). */
export type UploadFit = { readonly maxSide: number } | { readonly size: { width: number; height: number } };

/**
 * Decodes a picture someone uploaded into flowbot's own form, once image intake admitted it: upright
 * (EXIF orientation honoured), 8-bit sRGB (CMYK, 16-bit and greyscale converted), transparency
 * flattened onto white (what a chat client shows behind it), the first frame of an animation only,
 * and fitted as `fit` says. Returns what intake read from the header too.
 */
export function readUpload(input: Buffer, fit: UploadFit): Promise<{ image: RgbImage; facts: ImageFacts }> {
  return decodeAdmitted(input, 'image', async (bytes, facts) => {
    let pipeline = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1 })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb');
    pipeline =
      'size' in fit
        ? pipeline.resize(fit.size.width, fit.size.height, { fit: 'cover', kernel: 'lanczos3' })
        : pipeline.resize(fit.maxSide, fit.maxSide, { fit: 'inside', withoutEnlargement: true });
    const { data, info } = await pipeline
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.length);
    return { image: { width: info.width, height: info.height, pixels }, facts };
  });
}

/** Width and height of an encoded image without decoding it (as its header declares them). */
export async function imageSize(input: Buffer | string): Promise<{ width: number; height: number }> {
  const { facts } = await admitImage(input, 'file');
  return { width: facts.width, height: facts.height };
}

/**
 * Reads a mask of any size: where the file has transparency, opaque pixels are repainted; otherwise
 * white (bright) pixels are. The result is resized to `size` and thresholded at one half.
 */
export function readMask(
  input: Buffer | string,
  size: { width: number; height: number },
): Promise<Float32Array> {
  return decodeAdmitted(input, 'mask', async (bytes) => {
    const image = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS });
    const meta = await image.metadata();
    const useAlpha = meta.hasAlpha === true && !(await image.stats()).isOpaque;
    const channel = useAlpha
      ? sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).ensureAlpha().extractChannel(3)
      : sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).flatten({ background: '#000000' }).greyscale();
    const { data } = await channel
      .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const mask = new Float32Array(size.width * size.height);
    for (let i = 0; i < mask.length; i++) mask[i] = data[i]! >= 128 ? 1 : 0;
    return mask;
  });
}

/** RGB bytes → channels-first float32 in [-1, 1]. */
export function toTensor(image: RgbImage): Float32Array {
  const { width, height, pixels } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = pixels[3 * i]! / 127.5 - 1;
    out[plane + i] = pixels[3 * i + 1]! / 127.5 - 1;
    out[2 * plane + i] = pixels[3 * i + 2]! / 127.5 - 1;
  }
  return out;
}

/** Channels-first float32 in [-1, 1] (clamped) → RGB bytes. */
export function fromTensor(data: Float32Array, width: number, height: number, offset = 0): RgbImage {
  const plane = width * height;
  // A clamped array rounds and clamps on assignment, which is exactly the conversion wanted.
  const clamped = new Uint8ClampedArray(3 * plane);
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    for (let i = 0, k = c; i < plane; i++, k += 3) clamped[k] = (data[base + i]! + 1) * 127.5;
  }
  return { width, height, pixels: new Uint8Array(clamped.buffer) };
}

/** Encodes RGB as PNG, with optional text chunks. */
export async function encodePng(image: RgbImage, text?: Record<string, string>): Promise<Buffer> {
  const png = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
  return text ? addPngText(png, text) : png;
}

/** Resizes with a Lanczos kernel (the upscale fallback, and preview scaling). */
export async function resizeRgb(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await sharp(image.pixels, {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

/** Resizes to exactly `width`×`height`, cropping what does not fit the new aspect ratio (centred). */
export async function coverRgb(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const { data, info } = await sharp(image.pixels, {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { fit: 'cover', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

/** Lays out up to four images as a grid (2×2 for 3–4, side by side for 2). */
export async function composeGrid(images: readonly RgbImage[], gap = 0): Promise<RgbImage> {
  const first = images[0];
  if (!first) throw new Error('composeGrid needs at least one image');
  if (images.length === 1) return first;
  const columns = 2;
  const rows = Math.ceil(images.length / columns);
  const width = columns * first.width + (columns - 1) * gap;
  const height = rows * first.height + (rows - 1) * gap;
  const pixels = new Uint8Array(width * height * 3);
  images.forEach((image, index) => {
    const x0 = (index % columns) * (first.width + gap);
    const y0 = Math.floor(index / columns) * (first.height + gap);
    for (let y = 0; y < image.height; y++) {
      const source = image.pixels.subarray(y * image.width * 3, (y + 1) * image.width * 3);
      pixels.set(source, ((y0 + y) * width + x0) * 3);
    }
  });
  return { width, height, pixels };
}

/** One cell (0-based, row-major) cut out of a 2-column grid. */
export function gridCell(grid: RgbImage, cell: number, cellWidth: number, cellHeight: number): RgbImage {
  const x0 = (cell % 2) * cellWidth;
  const y0 = Math.floor(cell / 2) * cellHeight;
  const pixels = new Uint8Array(cellWidth * cellHeight * 3);
  for (let y = 0; y < cellHeight; y++) {
    const start = ((y0 + y) * grid.width + x0) * 3;
    pixels.set(grid.pixels.subarray(start, start + cellWidth * 3), y * cellWidth * 3);
  }
  return { width: cellWidth, height: cellHeight, pixels };
}

/** A mask blurred with a Gaussian of `sigma` pixels (feathering). */
export async function blurMask(
  mask: Float32Array,
  width: number,
  height: number,
  sigma: number,
): Promise<Float32Array> {
  if (sigma < 0.3) return mask;
  const bytes = Uint8Array.from(mask, (v) => Math.round(v * 255));
  const { data } = await sharp(bytes, { raw: { width, height, channels: 1 } })
    .blur(sigma)
    .extractChannel(0) // sharp would otherwise hand back three channels
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Float32Array.from(data, (v) => v / 255);
}
