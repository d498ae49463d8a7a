/**
 * Exact image edits: photometric and geometric changes done with sharp on the stored pixels, with no
 * diffusion. They are instant, deterministic and exact ("darker" lowers every pixel's lightness by the
 * same factor; "mirror" is the mirror image), and are recorded in the lineage like any operation.
 */
import sharp from 'sharp';
import { z } from 'zod';
import type { RgbImage } from './image.js';

const factor = z.number().positive().max(10);

/**
 * An exact edit, as a zod schema: edits are queued as jobs, so they are stored and may cross to a worker.
 * A `recolour` paints a plain colour over the image's backdrop, which the job finds from the pixels.
 */
export const exactEditSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('brightness'), factor }),
  z.object({ op: z.literal('saturation'), factor }),
  z.object({ op: z.literal('grayscale') }),
  z.object({ op: z.literal('sepia') }),
  z.object({ op: z.literal('temperature'), amount: z.number().min(-1).max(1) }),
  z.object({ op: z.literal('sharpen') }),
  z.object({ op: z.literal('blur') }),
  z.object({ op: z.literal('mirror') }),
  z.object({ op: z.literal('flip') }),
  z.object({ op: z.literal('rotate'), degrees: z.union([z.literal(90), z.literal(180), z.literal(270)]) }),
  z.object({
    op: z.literal('crop'),
    aspect: z.object({ width: z.number().int().min(1).max(99), height: z.number().int().min(1).max(99) }),
  }),
  z.object({
    op: z.literal('recolour'),
    colour: z.array(z.number().int().min(0).max(255)).length(3),
    name: z.string().min(1).max(40),
  }),
]);

/** An exact edit. */
export type ExactEdit = z.infer<typeof exactEditSchema>;

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

/** Blends a colour into the image where the mask (0–1 per pixel) is. */
function recolour(image: RgbImage, mask: Float32Array, colour: readonly number[]): RgbImage {
  const pixels = new Uint8Array(image.pixels);
  for (let i = 0; i < mask.length && i < pixels.length / 3; i++) {
    const a = mask[i]!;
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

/** The size of a `width`×`height` image after `edit`: rotations by 90° swap the sides, crops shrink them. */
export function editedSize(
  width: number,
  height: number,
  edit: ExactEdit,
): { width: number; height: number } {
  if (edit.op === 'rotate' && edit.degrees !== 180) return { width: height, height: width };
  if (edit.op === 'crop') {
    const box = cropBox(width, height, edit.aspect);
    return { width: box.width, height: box.height };
  }
  return { width, height };
}

/** Applies an exact edit to RGB pixels; a `recolour` paints where `backdrop` (0–1 per pixel) is. */
export async function applyEdit(
  image: RgbImage,
  edit: ExactEdit,
  backdrop?: Float32Array,
): Promise<RgbImage> {
  if (edit.op === 'recolour') {
    if (!backdrop) throw new Error('a recolour needs the backdrop mask');
    return recolour(image, backdrop, edit.colour);
  }
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
