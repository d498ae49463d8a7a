/**
 * Outpainting canvases: zoom out (the image smaller in the middle of a same-size canvas), pan (the
 * canvas half as large again on one side) and widening (a quarter more on both sides). The image keeps
 * its pixels where it is placed; the new area is what gets painted.
 */
import sharp from 'sharp';
import type { RgbImage } from './image.js';

/** How the canvas grows around the image. */
export type Outpaint =
  | { readonly kind: 'zoom'; readonly factor: number }
  | { readonly kind: 'pan'; readonly direction: 'left' | 'right' | 'up' | 'down' }
  | { readonly kind: 'widen'; readonly axis: 'horizontal' | 'vertical' };

/** A canvas and where the image goes on it. */
export interface Canvas {
  readonly width: number;
  readonly height: number;
  readonly place: {
    readonly left: number;
    readonly top: number;
    readonly width: number;
    readonly height: number;
  };
}

/** Words for the explanation line. */
export function describeOutpaint(outpaint: Outpaint): string {
  switch (outpaint.kind) {
    case 'zoom':
      return `zoomed out ${outpaint.factor}×`;
    case 'pan':
      return `panned ${outpaint.direction}`;
    case 'widen':
      return outpaint.axis === 'horizontal' ? 'made wider' : 'made taller';
  }
}

/**
 * The canvas for an image of this size, scaled down (image and all) to fit `maxArea` pixels and
 * rounded to `multiple`. It stays within `maxArea` unless a side had to be clamped up to one multiple
 * (a very long, thin image).
 */
export function canvasFor(
  width: number,
  height: number,
  outpaint: Outpaint,
  maxArea: number,
  multiple: number,
): Canvas {
  let cw = width;
  let ch = height;
  let place = { left: 0, top: 0, width, height };
  switch (outpaint.kind) {
    case 'zoom': {
      const w = width / outpaint.factor;
      const h = height / outpaint.factor;
      place = { left: (width - w) / 2, top: (height - h) / 2, width: w, height: h };
      break;
    }
    case 'pan':
      if (outpaint.direction === 'left' || outpaint.direction === 'right') cw = width * 1.5;
      else ch = height * 1.5;
      place = {
        left: outpaint.direction === 'left' ? cw - width : 0,
        top: outpaint.direction === 'up' ? ch - height : 0,
        width,
        height,
      };
      break;
    case 'widen':
      if (outpaint.axis === 'horizontal') cw = width * 1.5;
      else ch = height * 1.5;
      place = { left: (cw - width) / 2, top: (ch - height) / 2, width, height };
      break;
  }
  const scale = Math.min(1, Math.sqrt(maxArea / (cw * ch)));
  const toMultiple = (rounding: (v: number) => number) => (v: number) =>
    Math.max(multiple, rounding((v * scale) / multiple) * multiple);
  // The nearest multiples keep the shape best; where rounding up would pass the area, round down. Only a
  // side clamped up to one multiple can still pass it, and the limits refuse that canvas.
  let [finalW, finalH] = [toMultiple(Math.round)(cw), toMultiple(Math.round)(ch)];
  if (finalW * finalH > maxArea) [finalW, finalH] = [toMultiple(Math.floor)(cw), toMultiple(Math.floor)(ch)];
  const [sx, sy] = [finalW / cw, finalH / ch];
  return {
    width: finalW,
    height: finalH,
    place: {
      left: Math.round(place.left * sx),
      top: Math.round(place.top * sy),
      width: Math.round(place.width * sx),
      height: Math.round(place.height * sy),
    },
  };
}

/**
 * The canvas image (the image resized into its place, the rest filled by stretching its edges, a
 * neutral start for the painter) and the mask of what to paint (1 outside the image).
 */
export async function buildCanvas(
  image: RgbImage,
  canvas: Canvas,
): Promise<{ image: RgbImage; mask: Float32Array }> {
  const { place } = canvas;
  const placed = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(place.width, place.height, { fit: 'fill', kernel: 'lanczos3' })
    .extend({
      left: place.left,
      top: place.top,
      right: canvas.width - place.left - place.width,
      bottom: canvas.height - place.top - place.height,
      extendWith: 'copy',
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const mask = new Float32Array(canvas.width * canvas.height).fill(1);
  for (let y = place.top; y < place.top + place.height; y++)
    mask.fill(0, y * canvas.width + place.left, y * canvas.width + place.left + place.width);
  return {
    image: {
      width: canvas.width,
      height: canvas.height,
      pixels: new Uint8Array(placed.data.buffer, placed.data.byteOffset, placed.data.length),
    },
    mask,
  };
}
