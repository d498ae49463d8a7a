/**
 * Progress previews: a cheap linear map from latents to RGB. A folder may state its factors; for every
 * other model (SDXL, SD3 and FLUX's 16-channel latents included) they are fitted once, by least
 * squares, to what the model's own VAE decoder makes of a small seeded latent, so any family gets a
 * preview without hand-copied constants.
 */
import type { ModelSpec } from './families/types.js';
import { composeGrid, encodePng, fromTensor, type RgbImage, resizeRgb } from './image.js';
import { gaussianNoise } from './random.js';
import type { Vae } from './vae.js';

/** Latent → RGB: `weights[c][k]` per channel, then `bias[k]`. */
export interface LatentRgb {
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
}

/** The side, in latents, of the probe the factors are fitted on. */
const PROBE = 16;

/** Solves the symmetric system A·x = b in place (Gaussian elimination with partial pivoting). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    [b[col], b[pivot]] = [b[pivot]!, b[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = a[r]![col]! / a[col]![col]!;
      for (let k = col; k < n; k++) a[r]![k]! -= f * a[col]![k]!;
      b[r]! -= f * b[col]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < n; k++) s -= a[r]![k]! * x[k]!;
    x[r] = s / a[r]![r]!;
  }
  return x;
}

/**
 * Fits latent → RGB to pairs of latent pixels and the mean colour of the image block each decodes to
 * (ridge-regularised least squares, one solve per colour).
 */
export function fitLatentRgb(
  latents: Float32Array,
  rgb: Float32Array,
  channels: number,
  plane: number,
): LatentRgb {
  const features = channels + 1;
  const ata = Array.from({ length: features }, () => new Array<number>(features).fill(0));
  const atb = Array.from({ length: 3 }, () => new Array<number>(features).fill(0));
  const row = new Array<number>(features);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) row[c] = latents[c * plane + p]!;
    row[channels] = 1;
    for (let i = 0; i < features; i++) {
      for (let j = 0; j < features; j++) ata[i]![j]! += row[i]! * row[j]!;
      for (let k = 0; k < 3; k++) atb[k]![i]! += row[i]! * rgb[k * plane + p]!;
    }
  }
  for (let i = 0; i < features; i++) ata[i]![i]! += 1e-3 * plane;
  const solutions = atb.map((b) =>
    solve(
      ata.map((r) => [...r]),
      [...b],
    ),
  );
  return {
    weights: Array.from({ length: channels }, (_, c) => solutions.map((s) => s[c]!)),
    bias: solutions.map((s) => s[channels]!),
  };
}

/** Per-model preview factors: stated, or fitted on first use. */
export class Previews {
  private readonly vae: Vae;
  private readonly fitted = new Map<string, Promise<LatentRgb>>();

  constructor(vae: Vae) {
    this.vae = vae;
  }

  /** The model's latent → RGB map. */
  factors(spec: ModelSpec): Promise<LatentRgb> {
    if (spec.latentRgb) return Promise.resolve({ weights: spec.latentRgb, bias: [0, 0, 0] });
    let pending = this.fitted.get(spec.dir);
    if (!pending) {
      pending = this.fit(spec);
      this.fitted.set(spec.dir, pending);
      pending.catch(() => this.fitted.delete(spec.dir));
    }
    return pending;
  }

  /** A PNG grid of the n latents [n, C, h, w] seen through the linear map, at most 128 px a side each. */
  async render(spec: ModelSpec, latents: Float32Array, n: number, h: number, w: number): Promise<Uint8Array> {
    const { weights, bias } = await this.factors(spec);
    const plane = h * w;
    const channels = spec.latent.channels;
    const cells: RgbImage[] = [];
    for (let i = 0; i < n; i++) {
      const rgb = new Float32Array(3 * plane);
      for (let k = 0; k < 3; k++) rgb.fill(bias[k]!, k * plane, (k + 1) * plane);
      const base = i * channels * plane;
      for (let c = 0; c < Math.min(weights.length, channels); c++) {
        for (let k = 0; k < 3; k++) {
          const f = weights[c]![k]!;
          for (let p = 0; p < plane; p++) rgb[k * plane + p]! += f * latents[base + c * plane + p]!;
        }
      }
      const cell = fromTensor(rgb, w, h);
      const factor = Math.max(1, Math.floor(128 / Math.max(w, h)));
      cells.push(factor > 1 ? await resizeRgb(cell, w * factor, h * factor) : cell);
    }
    return encodePng(await composeGrid(cells));
  }

  private async fit(spec: ModelSpec): Promise<LatentRgb> {
    const channels = spec.latent.channels;
    const plane = PROBE * PROBE;
    const latents = gaussianNoise(0x5eed, channels * plane);
    const pixels = await this.vae.decode(spec, latents, PROBE, PROBE);
    const d = spec.latent.downscale;
    const side = PROBE * d;
    const rgb = new Float32Array(3 * plane);
    for (let k = 0; k < 3; k++)
      for (let y = 0; y < side; y++)
        for (let x = 0; x < side; x++)
          rgb[k * plane + Math.floor(y / d) * PROBE + Math.floor(x / d)]! +=
            pixels[(k * side + y) * side + x]! / (d * d);
    return fitLatentRgb(latents, rgb, channels, plane);
  }
}
