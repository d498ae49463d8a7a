/**
 * Super-resolution: a model such as Real-ESRGAN over overlapping tiles (memory bounded by the tile
 * size), or Lanczos resampling when there is none.
 */
import { ErrorCode, FlowbotError, UserError } from '../errors.js';
import { type RgbImage, resizeRgb } from './image.js';
import type { UpscalerSpec } from './model.js';
import type { HostTensor, OnnxBackend, OnnxModel } from './onnx.js';
import { checkAborted, type RunHooks } from './progress.js';

/**
 * The image `scale` times larger: through the super-resolution model when there is one (resized to
 * the exact size if its own factor differs), else by Lanczos.
 */
export async function superResolve(
  backend: OnnxBackend,
  image: RgbImage,
  scale: number,
  upscaler: UpscalerSpec | undefined,
  tile: number | undefined,
  hooks: RunHooks,
): Promise<RgbImage> {
  if (![2, 3, 4].includes(scale))
    throw new UserError(ErrorCode.FlagValue, `Expected 2, 3 or 4 for scale but received ${scale}`);
  const width = image.width * scale;
  const height = image.height * scale;
  if (!upscaler) return resizeRgb(image, width, height);
  const model = await backend.load(upscaler.file);
  const upscaled = await tiledSuperResolution(model, image, upscaler, tile ?? upscaler.tile, hooks);
  return upscaled.width === width ? upscaled : resizeRgb(upscaled, width, height);
}

/**
 * Runs a super-resolution model over overlapping tiles. Each tile's contribution is weighted by a ramp
 * that is zero within `margin` pixels of an inner tile edge (where the network sees padding instead of
 * image) and one beyond the overlap, so seams blend away. Output rows are finished band by band, so
 * the float accumulators hold one band, not the whole image.
 */
async function tiledSuperResolution(
  model: OnnxModel,
  image: RgbImage,
  spec: UpscalerSpec,
  tileSize: number,
  hooks: RunHooks,
): Promise<RgbImage> {
  const scale = spec.scale;
  const tile = Math.max(16, Math.min(tileSize, Math.max(image.width, image.height)));
  const overlap = Math.min(16, Math.floor(tile / 4));
  const margin = Math.min(4, overlap - 1);
  const stride = tile - 2 * overlap;
  const starts = (length: number): number[] => {
    if (length <= tile) return [0];
    const out: number[] = [];
    for (let s = 0; ; s += stride) {
      if (s + tile >= length) {
        out.push(length - tile);
        break;
      }
      out.push(s);
    }
    return out;
  };
  const xs = starts(image.width);
  const ys = starts(image.height);
  const outWidth = image.width * scale;
  const outHeight = image.height * scale;
  const output = new Uint8Array(outWidth * outHeight * 3);
  const bandRows = tile * scale;
  let bandTop = 0; // output row where the accumulators begin
  const sums = new Float32Array(bandRows * 2 * outWidth * 3);
  const weights = new Float32Array(bandRows * 2 * outWidth);
  const inputName = model.inputs[0]!.name;
  const total = xs.length * ys.length;
  let done = 0;
  const ramp = (distance: number, atBorder: boolean) =>
    atBorder ? 1 : Math.min(1, Math.max(0, (distance - margin) / Math.max(1, overlap - margin)));
  for (let row = 0; row < ys.length; row++) {
    const y0 = ys[row]!;
    const th = Math.min(tile, image.height - y0);
    for (const x0 of xs) {
      checkAborted(hooks.signal);
      const tw = Math.min(tile, image.width - x0);
      const input = new Float32Array(3 * tw * th);
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) {
          const p = ((y0 + y) * image.width + x0 + x) * 3;
          for (let c = 0; c < 3; c++)
            input[c * tw * th + y * tw + x] = (image.pixels[p + c]! / 255) * spec.inputScale;
        }
      }
      const out = await model.run({ [inputName]: { data: input, dims: [1, 3, th, tw] } });
      const result = (out.output ?? Object.values(out)[0]!) as HostTensor;
      const data = result.data as Float32Array;
      const ow = tw * scale;
      const oh = th * scale;
      if (result.dims[2] !== oh || result.dims[3] !== ow) {
        throw new FlowbotError(
          ErrorCode.ModelInvalid,
          `${model.file}: expected a ×${scale} output of ${ow}×${oh} but received ${result.dims[3]}×${result.dims[2]}`,
        );
      }
      for (let y = 0; y < oh; y++) {
        const wy = Math.min(ramp(y / scale, y0 === 0), ramp((oh - 1 - y) / scale, y0 + th >= image.height));
        const bandRow = y0 * scale + y - bandTop;
        for (let x = 0; x < ow; x++) {
          const wx = Math.min(ramp(x / scale, x0 === 0), ramp((ow - 1 - x) / scale, x0 + tw >= image.width));
          const weight = wx * wy;
          if (weight === 0) continue;
          const target = bandRow * outWidth + x0 * scale + x;
          weights[target]! += weight;
          for (let c = 0; c < 3; c++) {
            const value =
              Math.min(spec.inputScale, Math.max(0, data[c * ow * oh + y * ow + x]!)) / spec.inputScale;
            sums[target * 3 + c]! += weight * value;
          }
        }
      }
      hooks.onProgress?.({ step: ++done, total });
    }
    // Rows above the next tile row's start receive no more contributions: finish them.
    const finishedUntil = row + 1 < ys.length ? ys[row + 1]! * scale : outHeight;
    for (let y = bandTop; y < finishedUntil; y++) {
      for (let x = 0; x < outWidth; x++) {
        const k = (y - bandTop) * outWidth + x;
        const weight = weights[k]!;
        for (let c = 0; c < 3; c++)
          output[(y * outWidth + x) * 3 + c] = Math.round((sums[k * 3 + c]! / (weight || 1)) * 255);
      }
    }
    const keep = (finishedUntil - bandTop) * outWidth;
    // Slide the band up in place (no new buffers per band, so memory stays flat).
    sums.copyWithin(0, keep * 3).fill(0, sums.length - keep * 3);
    weights.copyWithin(0, keep).fill(0, weights.length - keep);
    bandTop = finishedUntil;
  }
  return { width: outWidth, height: outHeight, pixels: output };
}
