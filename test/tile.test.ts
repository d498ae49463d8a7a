/**
 * `--tile`: circularly padded convolutions (`circular.ts`) make the denoiser and the VAE decoder
 * equivariant on the torus, and the images seamless, on the shipped model and the SD and SDXL fixtures.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAction } from '../commands/actions.js';
import type { Reply } from '../commands/types.js';
import { CIRCULAR } from '../src/pipeline/circular.js';
import { type RgbImage, readImage } from '../src/pipeline/image.js';
import { loadModelSpec } from '../src/pipeline/model.js';
import { type HostTensor, OnnxBackend, type OnnxModel } from '../src/pipeline/onnx.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { FIXTURE_MODELS, TestBot } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const SHIPPED = path.resolve(import.meta.dirname, '..', 'models');
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
afterAll(() => backend.dispose());

/** [C, H, W] rolled by (dy, dx), wrapping around. */
function roll(data: Float32Array, [c, h, w]: readonly number[], dy: number, dx: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let k = 0; k < c!; k++)
    for (let y = 0; y < h!; y++)
      for (let x = 0; x < w!; x++)
        out[(k * h! + ((y + dy) % h!)) * w! + ((x + dx) % w!)] = data[(k * h! + y) * w! + x]!;
  return out;
}

/** Runs the model on a [1, C, H, W] first input (the others fixed) and returns its first output. */
async function first(model: OnnxModel, sample: Float32Array, shape: readonly number[]): Promise<HostTensor> {
  const feeds: Record<string, HostTensor> = {
    [model.inputs[0]!.name]: { data: sample, dims: [1, ...shape] },
  };
  for (const info of model.inputs.slice(1)) {
    const dims = info.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const size = dims.reduce((a, b) => a * b, 1);
    feeds[info.name] = info.type.startsWith('int')
      ? { data: new Int32Array(size).fill(500), dims }
      : { data: Float32Array.from({ length: size }, (_, i) => 0.5 * Math.cos(i)), dims };
  }
  return Object.values(await model.run(feeds))[0]!;
}

/** How far f(roll(x)) is from roll(f(x)), relative to f(x)'s size. */
async function rollError(
  file: string,
  shape: readonly number[],
  shift: number,
  circular: boolean,
): Promise<number> {
  const model = await backend.load(file, circular ? CIRCULAR : undefined);
  const x = Float32Array.from(
    { length: shape.reduce((a, b) => a * b, 1) },
    (_, i) => Math.sin(i * 12.9898) % 1,
  );
  const plain = await first(model, x, shape);
  const rolled = await first(model, roll(x, shape, shift, 2 * shift), shape);
  const [, c, h, w] = plain.dims as number[];
  const scale = h! / shape[1]!;
  const expected = roll(plain.data as Float32Array, [c!, h!, w!], shift * scale, 2 * shift * scale);
  const size = Math.max(...expected.map(Math.abs));
  return Math.max(...expected.map((v, i) => Math.abs(v - (rolled.data as Float32Array)[i]!))) / size;
}

describe('circular convolutions', () => {
  const cases = [
    ['flowbot-emoji VAE decoder', path.join(SHIPPED, 'flowbot-emoji/vae_decoder.onnx'), [4, 16, 16], 3],
    // The shipped denoiser halves twice, so it is equivariant to shifts of whole 4-latent steps.
    ['flowbot-emoji denoiser', path.join(SHIPPED, 'flowbot-emoji/denoiser.onnx'), [4, 16, 16], 4],
    ['sd-tiny VAE decoder', path.join(FIXTURE_MODELS, 'sd-tiny/vae_decoder/model.onnx'), [4, 8, 8], 3],
    ['sd-tiny UNet', path.join(FIXTURE_MODELS, 'sd-tiny/unet/model.onnx'), [4, 8, 8], 2],
    ['sdxl-tiny VAE decoder', path.join(FIXTURE_MODELS, 'sdxl-tiny/vae_decoder/model.onnx'), [4, 8, 8], 3],
  ] as const;
  for (const [label, file, shape, shift] of cases) {
    it(`${label}: a rolled input gives the rolled output once its convolutions wrap around`, async () => {
      expect(await rollError(file, shape, shift, true)).toBeLessThan(1e-5);
      expect(await rollError(file, shape, shift, false)).toBeGreaterThan(1e-2);
    });
  }
});

/** Mean |Δ| (0–255) between two columns of an image. */
function columnDifference(image: RgbImage, a: number, b: number): number {
  let sum = 0;
  for (let y = 0; y < image.height; y++)
    for (let c = 0; c < 3; c++)
      sum += Math.abs(
        image.pixels[(y * image.width + a) * 3 + c]! - image.pixels[(y * image.width + b) * 3 + c]!,
      );
  return sum / (image.height * 3);
}

function transposed(image: RgbImage): RgbImage {
  const pixels = new Uint8Array(image.pixels.length);
  for (let y = 0; y < image.height; y++)
    for (let x = 0; x < image.width; x++)
      for (let c = 0; c < 3; c++)
        pixels[(x * image.height + y) * 3 + c] = image.pixels[(y * image.width + x) * 3 + c]!;
  return { width: image.height, height: image.width, pixels };
}

/** The seam (last column against the first) and the largest step between adjacent columns inside. */
function seam(image: RgbImage): { seam: number; inside: number } {
  const steps = Array.from({ length: image.width - 1 }, (_, x) => columnDifference(image, x, x + 1));
  return { seam: columnDifference(image, image.width - 1, 0), inside: Math.max(...steps) };
}

describe('--tile through /imagine', () => {
  const t = tempDir();
  let fixtures: TestBot;
  let shipped: TestBot;
  beforeAll(() => {
    fixtures = new TestBot(path.join(t.dir, 'fixtures'));
    shipped = new TestBot(path.join(t.dir, 'shipped'), { MODELS_DIR: SHIPPED, MODEL: 'flowbot-emoji' });
  });
  afterAll(async () => {
    await fixtures.close();
    await shipped.close();
    t.cleanup();
  });

  for (const [label, which, model] of [
    ['the shipped model', () => shipped, 'flowbot-emoji'],
    ['the SD fixture', () => fixtures, 'sd-tiny'],
    ['the SDXL fixture', () => fixtures, 'sdxl-tiny'],
  ] as const) {
    it(`${label}: the left–right and top–bottom seams are no larger than steps between adjacent columns and rows inside`, async () => {
      const bot = which();
      const { view } = await bot.imagine(`a brick wall pattern --tile --seed 7 --model ${model}`);
      expect(view!.text).toMatch(/ · tile$/);
      const cells = await Promise.all(
        view!.cellIds.map((id) => readImage(bot.core.files.resolve(bot.core.store.getImage(id)!.filePath))),
      );
      for (const cell of cells) {
        const [across, down] = [seam(cell), seam(transposed(cell))];
        console.log(
          `${model} --tile: seams ${across.seam.toFixed(1)} ≤ ${across.inside.toFixed(1)}, ${down.seam.toFixed(1)} ≤ ${down.inside.toFixed(1)}`,
        );
        expect(across.seam).toBeLessThanOrEqual(across.inside);
        expect(down.seam).toBeLessThanOrEqual(down.inside);
      }
      // Variations of a tile stay tiles.
      const varied = await bot.send({
        kind: 'action',
        customId: encodeAction({ action: 'vary', imageId: view!.imageId, cell: 1 }),
        ctx: bot.ctx(),
      });
      const queued = varied[0] as Extract<Reply, { type: 'queued' }>;
      expect(bot.core.store.getJob(queued.jobId)!.params).toMatchObject({ tile: true });
      await bot.core.queue.onIdle();
    });
  }

  it('refuses --tile on transformer models before queueing', async () => {
    const [reply] = await fixtures.send({
      kind: 'command',
      name: 'imagine',
      text: 'a cat --tile --model sd3-tiny',
      ctx: fixtures.ctx(),
    });
    expect(reply).toMatchObject({
      type: 'text',
      text: "--tile works with UNet models (SD 1.x/2.x, SDXL and flowbot's own); sd3-tiny is a transformer, which places everything by position.",
    });
  });
});

describe('tiles and VAE tiling', () => {
  it('decodes a tile in one piece even above VAE_TILE (its own tiles would wrap around themselves)', async () => {
    const spec = loadModelSpec(path.join(FIXTURE_MODELS, 'sd-tiny'));
    const request = { model: spec, prompt: 'a wall', seed: 3, steps: 2, width: 128, height: 128 };
    const whole = new Pipeline(backend, { vaeTile: 0 });
    const tiled = new Pipeline(backend, { vaeTile: 64 });
    const pixels = async (pipeline: Pipeline, tile: boolean) =>
      Buffer.from((await pipeline.generate({ ...request, tile })).images[0]!.pixels);
    expect((await pixels(tiled, true)).equals(await pixels(whole, true))).toBe(true);
    // Without --tile the same setting does decode in tiles.
    expect((await pixels(tiled, false)).equals(await pixels(whole, false))).toBe(false);
  });
});
