/**
 * Edits on an image of any size. A model paints well only up to its area ({@link maxArea}), but the
 * images people edit are often larger (an upscale, an upload). Such an edit works at the largest size
 * the model handles at the image's shape, then its result is brought back to the image's own size:
 * with the super-resolution model where it must grow, and with the pixels the edit does not touch
 * copied from the image itself.
 */
import { largestSize, maxArea } from './budget.js';
import { type Canvas, canvasFor, type Outpaint } from './canvas.js';
import { blurMask, type RgbImage, resizeRgb } from './image.js';
import { composite } from './masks.js';
import type { ModelSpec } from './model.js';
import { roundedSize } from './recipe.js';

/** A width and a height in pixels. */
export interface Size {
  readonly width: number;
  readonly height: number;
}

/** Where an edit works, and the size its result has. */
export interface WorkPlan {
  /** The size the model paints at. */
  readonly work: Size;
  /** The size of the result. */
  readonly result: Size;
  /** True when the result is brought back from the work size to a larger one. */
  readonly broughtBack: boolean;
}

/** An outpainting's plan, with the canvases it paints on and returns. */
export interface OutpaintPlan extends WorkPlan {
  /** The canvas at the work size: what the model paints. */
  readonly workCanvas: Canvas;
  /** The canvas at the image's own resolution, when the result is brought back to it. */
  readonly fullCanvas: Canvas | undefined;
}

/** True when the model paints an image of this size directly. */
export function fitsModel(spec: ModelSpec, size: Size): boolean {
  return size.width * size.height <= maxArea(spec);
}

/**
 * A repaint of a whole image of this size (img2img, inpainting): at the image's size (rounded to the
 * model's multiple) when the model handles it, else at the largest size of its shape the model
 * handles, brought back to the image's exact size.
 */
export function repaintPlan(spec: ModelSpec, image: Size): WorkPlan {
  if (fitsModel(spec, image)) {
    const rounded = roundedSize(spec, image.width, image.height);
    return { work: rounded, result: rounded, broughtBack: false };
  }
  return {
    work: withinArea(spec, image),
    result: { width: image.width, height: image.height },
    broughtBack: true,
  };
}

/**
 * The largest size of the image's shape within the model's area. A side too short to scale down stays
 * one size multiple; the other side then shrinks further (the shape stretches, and comes back on return).
 */
function withinArea(spec: ModelSpec, image: Size): Size {
  const fit = largestSize(spec, image.width, image.height);
  if (fitsModel(spec, fit)) return fit;
  const m = spec.sizeMultiple;
  const longest = (short: number) => Math.max(m, Math.floor(maxArea(spec) / short / m) * m);
  return fit.width >= fit.height
    ? { width: longest(fit.height), height: fit.height }
    : { width: fit.width, height: longest(fit.width) };
}

/**
 * Zoom out, pan or widen an image of this size. The canvas at the image's own resolution is the
 * result when the model cannot paint it directly; the model then paints the same canvas scaled to its
 * area, and the image's pixels go back in at full resolution.
 */
export function outpaintPlan(spec: ModelSpec, image: Size, outpaint: Outpaint): OutpaintPlan {
  const workCanvas = canvasFor(image.width, image.height, outpaint, maxArea(spec), spec.sizeMultiple);
  const full = canvasFor(image.width, image.height, outpaint, Number.POSITIVE_INFINITY, 1);
  const work = roundedSize(spec, workCanvas.width, workCanvas.height);
  if (fitsModel(spec, full))
    return { work, result: work, broughtBack: false, workCanvas, fullCanvas: undefined };
  return {
    work,
    result: { width: full.width, height: full.height },
    broughtBack: true,
    workCanvas,
    fullCanvas: full,
  };
}

/**
 * A creative upscale: the upscaled image refined with a light img2img pass, at the upscaled size when
 * the model handles it, else at the largest size of its shape, brought back to the upscaled size.
 */
export function creativeUpscalePlan(spec: ModelSpec, image: Size, scale: number): WorkPlan {
  return repaintPlan(spec, { width: image.width * scale, height: image.height * scale });
}

/** The plan in words for the result line, e.g. "worked at 160×96 and brought back to 320×192". */
export function describePlan(plan: WorkPlan): string | undefined {
  if (!plan.broughtBack) return undefined;
  const { work, result } = plan;
  return `worked at ${work.width}×${work.height} and brought back to ${result.width}×${result.height}`;
}

/** The super-resolution model, as bringing back uses it: its own factor, and a run of it on an image. */
export interface Grower {
  /** How many times larger a run makes an image (2, 3 or 4). */
  readonly scale: 2 | 3 | 4;
  readonly grow: (image: RgbImage) => Promise<RgbImage>;
}

/** The least growth for which the super-resolution model is used; less is resampled. */
export const GROW_WITH_MODEL_FROM = 1.5;

/**
 * The image at `size`. It is grown by the super-resolution model while it must still grow by
 * {@link GROW_WITH_MODEL_FROM}× or more and by at least half the model's factor (a ×4 model runs where
 * the image must grow 2× or more, and at most overshoots by 2× a side, which the resampling then
 * averages down), then resampled (Lanczos) to the exact size. Without a model, or to shrink, it is only
 * resampled.
 */
export async function resizeTo(image: RgbImage, size: Size, grower: Grower | undefined): Promise<RgbImage> {
  let grown = image;
  const from = grower ? Math.max(GROW_WITH_MODEL_FROM, grower.scale / 2) : Number.POSITIVE_INFINITY;
  while (Math.max(size.width / grown.width, size.height / grown.height) >= from)
    grown = await grower!.grow(grown);
  return grown.width === size.width && grown.height === size.height
    ? grown
    : resizeRgb(grown, size.width, size.height);
}

/**
 * The edited image over the original: where `mask` is 0 the original's own pixels, byte for byte;
 * inside it the edited ones, with the mask's edge feathered inwards only (as the pipeline's inpainting
 * does), so the seam falls inside the edited area.
 */
export async function keepUntouched(
  original: RgbImage,
  edited: RgbImage,
  mask: Float32Array,
  feather = Math.max(1, original.width / 128),
): Promise<RgbImage> {
  const feathered = await blurMask(mask, original.width, original.height, feather);
  const alpha = mask.map((m, i) => m * feathered[i]!);
  return composite(original, edited, alpha);
}
