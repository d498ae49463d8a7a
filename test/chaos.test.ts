/**
 * `--chaos` through the command path on the shipped model: the cells of a grid differ more as chaos
 * rises from 0 to 25 to 50 (the starting noise), measured as the mean pairwise difference over twenty
 * prompts, and at 100 each cell's conditioning and guidance are its own. The same figures are printed by
 * `npm run bench -- chaos`.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosNoise } from '../src/pipeline/chaos.js';
import { readImage } from '../src/pipeline/image.js';
import { gaussianNoise } from '../src/pipeline/random.js';
import { TestBot } from './helpers/bot.js';
import { CHAOS_LEVELS, CHAOS_PROMPTS, meanPairwiseDifference } from './helpers/chaos.js';
import { tempDir } from './helpers/tmp.js';

describe('chaos noise', () => {
  const shape = { channels: 4, height: 16, width: 16 };
  const seeds = [5, 6, 7, 8];

  it('at 50 (and for one image) each cell starts from its own seed, as a grid always did', () => {
    const own = seeds.map((seed) => gaussianNoise(seed, 4 * 16 * 16));
    expect(chaosNoise(seeds, shape, 50)).toEqual(own);
    expect(chaosNoise([5], shape, 0)).toEqual([own[0]]);
  });

  it('at 0 the cells share the coarse part of their noise and keep their own fine part', () => {
    const cells = chaosNoise(seeds, shape, 0);
    const blockMean = (noise: Float32Array, c: number, by: number, bx: number) => {
      let sum = 0;
      for (let y = 0; y < 2; y++)
        for (let x = 0; x < 2; x++) sum += noise[(c * 16 + by * 2 + y) * 16 + bx * 2 + x]!;
      return sum / 4;
    };
    for (const [c, by, bx] of [
      [0, 0, 0],
      [3, 7, 5],
    ] as const) {
      const means = cells.map((noise) => blockMean(noise, c, by, bx));
      for (const mean of means) expect(mean).toBeCloseTo(means[0]!, 5);
    }
    expect(cells[1]![0]).not.toBeCloseTo(cells[0]![0]!, 3);
    // The statistics stay those of Gaussian noise.
    const all = cells.flatMap((noise) => [...noise]);
    const variance = all.reduce((sum, v) => sum + v * v, 0) / all.length;
    expect(variance).toBeGreaterThan(0.85);
    expect(variance).toBeLessThan(1.15);
  });
});

describe('--chaos through /imagine on the shipped model', () => {
  const t = tempDir();
  let bot: TestBot;
  beforeAll(() => {
    bot = new TestBot(t.dir, {
      MODELS_DIR: path.resolve(import.meta.dirname, '..', 'models'),
      MODEL: 'flowbot-emoji',
    });
  });
  afterAll(async () => {
    await bot.close();
    t.cleanup();
  });

  it('the cells of a grid, over 20 prompts, differ more from 0 to 25 to 50; at 100 each cell is conditioned apart', async () => {
    const figures: number[] = [];
    /** Each prompt's cells, by chaos level. */
    const grids = new Map<number, Buffer[][]>();
    for (const chaos of CHAOS_LEVELS) {
      let sum = 0;
      const made: Buffer[][] = [];
      for (const [i, prompt] of CHAOS_PROMPTS.entries()) {
        // As an admin: 80 grids are more than the hourly limit allows a person.
        const { view } = await bot.run({
          kind: 'command',
          name: 'imagine',
          text: `${prompt} --seed ${1000 + i} --chaos ${chaos}`,
          ctx: bot.ctx('host', { isAdmin: true }),
        });
        const cells = await Promise.all(
          view!.cellIds.map((id) => readImage(bot.core.files.resolve(bot.core.store.getImage(id)!.filePath))),
        );
        sum += meanPairwiseDifference(cells);
        made.push(cells.map((cell) => Buffer.from(cell.pixels)));
      }
      figures.push(sum / CHAOS_PROMPTS.length);
      grids.set(chaos, made);
    }
    console.log(`--chaos ${CHAOS_LEVELS.join('/')}: ${figures.map((f) => f.toFixed(2)).join(' / ')}`);
    // Up to 50 only the starting noise changes: shared coarse layout at 0, own seeds at 50.
    expect(figures[1]!).toBeGreaterThan(figures[0]!);
    expect(figures[2]!).toBeGreaterThan(figures[1]!);
    // 100 starts from the same noise as 50 and varies each cell's conditioning and guidance, so every
    // cell changes; how much more the cells then differ is the trained model's (npm run bench -- chaos).
    const [at50, at100] = [grids.get(50)!, grids.get(100)!];
    at100.forEach((cells, p) => {
      cells.forEach((cell, k) => {
        expect(cell.equals(at50[p]![k]!)).toBe(false);
      });
    });
  }, 600_000);
});
