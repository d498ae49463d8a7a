/**
 * `--chaos 0–100`: how different the images of a grid are from each other.
 *
 * - From 0 to 50, the cells' starting noise goes from sharing its low frequencies (the composition)
 *   to being each cell's own. The noise is split into a coarse part (the mean over blocks of an eighth
 *   of the latent side: an 8×8 grid of the layout) and the rest; each cell keeps its own fine part, and its coarse part is
 *   cos(πt/2)·shared + sin(πt/2)·own, t = chaos/50, which keeps the statistics of Gaussian noise.
 * - 50 is what a grid is without `--chaos`: every cell from its own seed, as before.
 * - From 50 to 100, each cell's prompt conditioning and guidance are also varied, growing linearly to
 *   the ranges in {@link CHAOS_RANGES} at 100: Gaussian noise of up to 30 % of each conditioning
 *   tensor's RMS, and guidance scaled by a factor from 0.5 to 1.5 (where classifier-free guidance runs).
 *
 * One image (`--n 1`) has nothing to differ from, so chaos leaves it alone.
 */
import type { Conditioning } from './families/types.js';
import type { HostTensor } from './onnx.js';
import { gaussianNoise, SeededRandom } from './random.js';

/** What a grid without `--chaos` is: cells from their own seeds, nothing else varied. */
export const DEFAULT_CHAOS = 50;

/** How far chaos 100 varies each cell (documented in README). */
export const CHAOS_RANGES = {
  /** Conditioning noise, as a fraction of each tensor's RMS. */
  conditioning: 0.3,
  /** Guidance is multiplied by 1 ± this. */
  guidance: 0.5,
} as const;

/** A latent grid: channels × height × width. */
export interface LatentShape {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** Per-cell conditioning and guidance at chaos above 50. */
export interface ChaosCells {
  readonly conditioning: readonly Conditioning[];
  readonly guidance: readonly number[];
}

/** The block means of `noise` over `block`×`block` squares, spread back over each square. */
function coarse(noise: Float32Array, shape: LatentShape, block: number): Float32Array {
  const { channels, height, width } = shape;
  const out = new Float32Array(noise.length);
  for (let c = 0; c < channels; c++)
    for (let y0 = 0; y0 < height; y0 += block)
      for (let x0 = 0; x0 < width; x0 += block) {
        const [y1, x1] = [Math.min(height, y0 + block), Math.min(width, x0 + block)];
        let sum = 0;
        for (let y = y0; y < y1; y++)
          for (let x = x0; x < x1; x++) sum += noise[(c * height + y) * width + x]!;
        const mean = sum / ((y1 - y0) * (x1 - x0));
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out[(c * height + y) * width + x] = mean;
      }
  return out;
}

/**
 * Starting noise of each cell (seeds[i]) for `chaos`; each cell's own noise unchanged from 50 up, and
 * for a single image.
 */
export function chaosNoise(seeds: readonly number[], shape: LatentShape, chaos: number): Float32Array[] {
  const size = shape.channels * shape.height * shape.width;
  const own = seeds.map((seed) => gaussianNoise(seed, size));
  const t = Math.min(1, chaos / DEFAULT_CHAOS);
  if (t >= 1 || seeds.length < 2) return own;
  const block = Math.max(1, Math.round(Math.min(shape.height, shape.width) / 8));
  // A stream of its own, so the shared composition is no one cell's.
  const shared = coarse(gaussianNoise((seeds[0]! ^ 0x6a09e667) >>> 0, size), shape, block);
  const [a, b] = [Math.cos((Math.PI * t) / 2), Math.sin((Math.PI * t) / 2)];
  return own.map((noise) => {
    const mine = coarse(noise, shape, block);
    return noise.map((v, j) => v - mine[j]! + a * shared[j]! + b * mine[j]!);
  });
}

function rms(data: Float32Array): number {
  let sum = 0;
  for (const v of data) sum += v * v;
  return Math.sqrt(sum / Math.max(1, data.length));
}

/** Per-cell conditioning and guidance above chaos 50; undefined at 50 and below, or for one image. */
export function chaosCells(
  cond: Conditioning,
  guidance: number,
  seeds: readonly number[],
  chaos: number,
): ChaosCells | undefined {
  const s = Math.max(0, (chaos - DEFAULT_CHAOS) / DEFAULT_CHAOS);
  if (s === 0 || seeds.length < 2) return undefined;
  const cells = seeds.map((seed) => {
    const random = new SeededRandom((seed ^ 0x3c6ef372) >>> 0);
    const factor = 1 + s * CHAOS_RANGES.guidance * (2 * random.uniform() - 1);
    const varied: Record<string, HostTensor> = {};
    for (const [name, tensor] of Object.entries(cond)) {
      const data = tensor.data as Float32Array;
      const scale = s * CHAOS_RANGES.conditioning * rms(data);
      const noise = random.normals(data.length);
      varied[name] = { data: data.map((v, i) => v + scale * noise[i]!), dims: tensor.dims };
    }
    return { conditioning: varied, guidance: Math.max(0, guidance * factor) };
  });
  return { conditioning: cells.map((c) => c.conditioning), guidance: cells.map((c) => c.guidance) };
}
