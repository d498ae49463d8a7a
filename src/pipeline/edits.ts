/**
 * Exact image edits: photometric and geometric changes done with sharp on the stored pixels, with no
 * diffusion. They are instant, deterministic and exact ("darker" lowers every pixel's lightness by the
 * same factor; "mirror" is the mirror image), and are recorded in the lineage like any operation.
 */
import sharp from 'sharp';
import type { RgbImage } from './image.js';

/** An exact edit. */
export type ExactEdit =
  | { readonly op: 'brightness'; readonly factor: number }
  | { readonly op: 'saturation'; readonly factor: number }
  | { readonly op: 'grayscale' }
  | { readonly op: 'sepia' }
  | { readonly op: 'temperature'; readonly amount: number }
  | { readonly op: 'sharpen' }
  | { readonly op: 'blur' }
  | { readonly op: 'mirror' }
  | { readonly op: 'flip' }
  | { readonly op: 'rotate'; readonly degrees: 90 | 180 | 270 }
  | { readonly op: 'crop'; readonly aspect: { readonly width: number; readonly height: number } }
  /** Paints a colour where the mask is (base64 of one byte per pixel, 0–255), blended by its value. */
  | {
      readonly op: 'recolour';
      readonly mask: string;
      readonly colour: readonly number[];
      readonly name: string;
    };

/** A 0–1 mask as the compact string a `recolour` edit carries. */
export function encodeMask(mask: Float32Array): string {
  return Buffer.from(Uint8Array.from(mask, (v) => Math.round(v * 255))).toString('base64');
}

type Matrix3x3 = [[number, number, number], [number, number, number], [number, number, number]];

/** Rec. 709 luma weights in every channel: black and white. */
const GRAYSCALE: Matrix3x3 = [
  [0.2126, 0.7152, 0.0722],
  [0.2126, 0.7152, 0.0722],
  [0.2126, 0.7152, 0.0722],
];
const SEPIA: Matrix3x3 = [
  [0.393, 0.769, 0.189],
  [0.349, 0.686, 0.168],
  [0.272, 0.534, 0.131],
];

/** What an edit did, in words, for the explanation line. */
export function describeEdit(edit: ExactEdit): string {
  switch (edit.op) {
    case 'brightness':
      return edit.factor < 1
        ? `darker (×${edit.factor} brightness)`
        : `brighter (×${edit.factor} brightness)`;
    case 'saturation':
      return edit.factor < 1 ? `less saturated (×${edit.factor})` : `more saturated (×${edit.factor})`;
    case 'grayscale':
      return 'black and white';
    case 'sepia':
      return 'sepia';
    case 'temperature':
      return edit.amount > 0 ? 'warmer' : 'cooler';
    case 'sharpen':
      return 'sharper';
    case 'blur':
      return 'blurrier';
    case 'mirror':
      return 'mirrored (left ↔ right)';
    case 'flip':
      return 'flipped (top ↔ bottom)';
    case 'rotate':
      return `rotated ${edit.degrees}°`;
    case 'crop':
      return `cropped to ${edit.aspect.width}:${edit.aspect.height}`;
    case 'recolour':
      return `background recoloured ${edit.name}`;
  }
}

/** Blends a colour into the image where the mask is. */
function recolour(image: RgbImage, mask: string, colour: readonly number[]): RgbImage {
  const alpha = Buffer.from(mask, 'base64');
  const pixels = new Uint8Array(image.pixels);
  for (let i = 0; i < alpha.length && i < pixels.length / 3; i++) {
    const a = alpha[i]! / 255;
    for (let c = 0; c < 3; c++) pixels[3 * i + c] = Math.round(pixels[3 * i + c]! * (1 - a) + colour[c]! * a);
  }
  return { width: image.width, height: image.height, pixels };
}

/** The centred crop of the given aspect ratio, as large as the image allows. */
function cropBox(width: number, height: number, aspect: { width: number; height: number }) {
  const target = aspect.width / aspect.height;
  const cropWidth = Math.min(width, Math.round(height * target));
  const cropHeight = Math.min(height, Math.round(width / target));
  return {
    left: Math.floor((width - cropWidth) / 2),
    top: Math.floor((height - cropHeight) / 2),
    width: cropWidth,
    height: cropHeight,
  };
}

/** Applies an exact edit to RGB pixels. */
export async function applyEdit(image: RgbImage, edit: ExactEdit): Promise<RgbImage> {
  if (edit.op === 'recolour') return recolour(image, edit.mask, edit.colour);
  let pipeline = sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } });
  switch (edit.op) {
    case 'brightness':
      pipeline = pipeline.linear(edit.factor, 0);
      break;
    case 'saturation':
      pipeline = pipeline.modulate({ saturation: edit.factor });
      break;
    case 'grayscale':
      pipeline = pipeline.recomb(GRAYSCALE);
      break;
    case 'sepia':
      pipeline = pipeline.recomb(SEPIA);
      break;
    case 'temperature':
      pipeline = pipeline.linear([1 + edit.amount, 1, 1 - edit.amount], [0, 0, 0]);
      break;
    case 'sharpen':
      pipeline = pipeline.sharpen({ sigma: 1 });
      break;
    case 'blur':
      pipeline = pipeline.blur(1.5);
      break;
    case 'mirror':
      pipeline = pipeline.flop();
      break;
    case 'flip':
      pipeline = pipeline.flip();
      break;
    case 'rotate':
      pipeline = pipeline.rotate(edit.degrees);
      break;
    case 'crop':
      pipeline = pipeline.extract(cropBox(image.width, image.height, edit.aspect));
      break;
  }
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}
