/**
 * The VAE: pixels to scaled diffusion latents and back. Large images go through in overlapping tiles
 * whose seams are cross-faded (as diffusers' VAE tiling does), so the decoder's activations, which
 * dominate memory, are bounded by the tile size rather than the image size.
 */
import { ErrorCode, FlowbotError, UserError } from '../errors.js';
import { CIRCULAR } from './circular.js';
import { outputOf } from './families/inputs.js';
import type { ModelSpec } from './families/types.js';
import type { OnnxBackend, OnnxModel } from './onnx.js';

/** VAE tiling: tiles of `tile` pixels (0 = never tile), overlapping by a quarter. */
export interface VaeOptions {
  readonly tile: number;
}

/** The default tile: 512 px (64 latents), where the common VAEs were trained. */
export const DEFAULT_VAE_TILE = 512;

/** Start offsets of tiles of `tile` along `length`, `tile − overlap` apart, the last flush with the end. */
export function tileStarts(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const out: number[] = [];
  for (let start = 0; ; start += tile - overlap) {
    if (start + tile >= length) {
      out.push(length - tile);
      return out;
    }
    out.push(start);
  }
}

/** What one tiled pass maps: a crop of the latent grid, in and out at their own pixels per latent. */
interface TiledPass {
  readonly gridHeight: number;
  readonly gridWidth: number;
  readonly input: Float32Array;
  readonly inChannels: number;
  readonly inScale: number;
  readonly outChannels: number;
  readonly outScale: number;
  /** Runs the model on a crop [inChannels, th·inScale, tw·inScale] → [outChannels, th·outScale, tw·outScale]. */
  readonly run: (crop: Float32Array, th: number, tw: number) => Promise<Float32Array>;
  readonly signal?: AbortSignal;
}

/**
 * Runs `pass.run` over overlapping tiles of the latent grid and cross-fades the outputs: each tile's
 * weight ramps linearly across the overlap at its inner edges (and is 1 at the image's border).
 */
async function tiledPass(pass: TiledPass, tile: number): Promise<Float32Array> {
  const { gridHeight: gh, gridWidth: gw, inScale: si, outScale: so } = pass;
  const overlap = Math.max(1, Math.floor(tile / 4));
  const outH = gh * so;
  const outW = gw * so;
  const sums = new Float32Array(pass.outChannels * outH * outW);
  const weights = new Float32Array(outH * outW);
  const inH = gh * si;
  const inW = gw * si;
  const ramp = (distance: number, atBorder: boolean) =>
    atBorder ? 1 : Math.min(1, (distance + 0.5) / (overlap * so));
  for (const y0 of tileStarts(gh, tile, overlap)) {
    for (const x0 of tileStarts(gw, tile, overlap)) {
      if (pass.signal?.aborted) throw pass.signal.reason;
      const th = Math.min(tile, gh);
      const tw = Math.min(tile, gw);
      const crop = new Float32Array(pass.inChannels * th * si * tw * si);
      for (let c = 0; c < pass.inChannels; c++)
        for (let y = 0; y < th * si; y++) {
          const from = (c * inH + y0 * si + y) * inW + x0 * si;
          crop.set(pass.input.subarray(from, from + tw * si), (c * th * si + y) * tw * si);
        }
      const out = await pass.run(crop, th, tw);
      const [oh, ow] = [th * so, tw * so];
      for (let y = 0; y < oh; y++) {
        const wy = Math.min(ramp(y, y0 === 0), ramp(oh - 1 - y, y0 + th >= gh));
        for (let x = 0; x < ow; x++) {
          const weight = wy * Math.min(ramp(x, x0 === 0), ramp(ow - 1 - x, x0 + tw >= gw));
          const target = (y0 * so + y) * outW + x0 * so + x;
          weights[target]! += weight;
          for (let c = 0; c < pass.outChannels; c++)
            sums[c * outH * outW + target]! += weight * out[(c * oh + y) * ow + x]!;
        }
      }
    }
  }
  const plane = outH * outW;
  for (let i = 0; i < sums.length; i++) sums[i]! /= weights[i % plane]!;
  return sums;
}

/** Encodes and decodes with a model's VAE. */
export class Vae {
  private readonly backend: OnnxBackend;
  private readonly tile: number;

  constructor(backend: OnnxBackend, options: VaeOptions) {
    this.backend = backend;
    this.tile = options.tile;
  }

  /** Latent tile size for a model, or 0 when this grid fits in one tile. */
  private latentTile(spec: ModelSpec, gh: number, gw: number): number {
    const tile = Math.floor(this.tile / spec.latent.downscale);
    return tile > 0 && (gh > tile || gw > tile) ? tile : 0;
  }

  /** Pixels [3, H, W] in [−1, 1] → diffusion latents [C, H/8, W/8]: (z − shift)·scale of the VAE's mean. */
  async encode(spec: ModelSpec, pixels: Float32Array, width: number, height: number): Promise<Float32Array> {
    if (!spec.files.vaeEncoder) {
      throw new UserError(
        ErrorCode.ModelInvalid,
        `The model ${spec.name} has no image encoder, so it cannot vary or edit images.`,
      );
    }
    const encoder = await this.backend.load(spec.files.vaeEncoder);
    const { channels, downscale } = spec.latent;
    const run = async (crop: Float32Array, th: number, tw: number) =>
      this.encodeCrop(encoder, crop, th * downscale, tw * downscale, channels);
    const gh = height / downscale;
    const gw = width / downscale;
    const tile = this.latentTile(spec, gh, gw);
    const z = tile
      ? await tiledPass(
          {
            gridHeight: gh,
            gridWidth: gw,
            input: pixels,
            inChannels: 3,
            inScale: downscale,
            outChannels: channels,
            outScale: 1,
            run,
          },
          tile,
        )
      : await run(pixels, gh, gw);
    return z.map((v) => (v - spec.latent.shift) * spec.latent.scale);
  }

  /**
   * Diffusion latents [C, h, w] → pixels [3, 8h, 8w] in [−1, 1]. A `circular` decode (`--tile`) wraps
   * around the edges and goes in one piece: tiles of it would wrap around their own edges instead.
   */
  async decode(
    spec: ModelSpec,
    latents: Float32Array,
    h: number,
    w: number,
    signal?: AbortSignal,
    circular = false,
  ): Promise<Float32Array> {
    const decoder = await this.backend.load(spec.files.vaeDecoder, circular ? CIRCULAR : undefined);
    const { channels, downscale, scale, shift } = spec.latent;
    const z = latents.map((v) => v / scale + shift);
    const run = async (crop: Float32Array, th: number, tw: number) => {
      const out = await decoder.run({
        [decoder.inputs[0]!.name]: { data: crop, dims: [1, channels, th, tw] },
      });
      const pixels = outputOf(decoder, out, 'sample');
      if (pixels.dims[2] !== th * downscale || pixels.dims[3] !== tw * downscale) {
        throw new FlowbotError(
          ErrorCode.ModelInvalid,
          `${decoder.file}: expected a ${tw * downscale}×${th * downscale} image from ${tw}×${th} latents but received ${pixels.dims[3]}×${pixels.dims[2]}`,
        );
      }
      return pixels.data as Float32Array;
    };
    const tile = circular ? 0 : this.latentTile(spec, h, w);
    if (!tile) return run(z, h, w);
    return tiledPass(
      {
        gridHeight: h,
        gridWidth: w,
        input: z,
        inChannels: channels,
        inScale: 1,
        outChannels: 3,
        outScale: downscale,
        run,
        ...(signal ? { signal } : {}),
      },
      tile,
    );
  }

  private async encodeCrop(
    encoder: OnnxModel,
    pixels: Float32Array,
    height: number,
    width: number,
    channels: number,
  ): Promise<Float32Array> {
    const out = await encoder.run({
      [encoder.inputs[0]!.name]: { data: pixels, dims: [1, 3, height, width] },
    });
    const tensor = out.latent_parameters ?? out.latent_sample ?? Object.values(out)[0]!;
    if (tensor.dims[1] !== channels && tensor.dims[1] !== 2 * channels) {
      throw new FlowbotError(
        ErrorCode.ModelInvalid,
        `${encoder.file}: output has ${tensor.dims[1]} channels; expected ${channels} or ${2 * channels}`,
      );
    }
    // latent_parameters holds the mean, then the log-variance: the mean is the deterministic encoding.
    const plane = tensor.dims[2]! * tensor.dims[3]!;
    return (tensor.data as Float32Array).slice(0, channels * plane);
  }
}
