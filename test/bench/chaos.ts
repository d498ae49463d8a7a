/**
 * `--chaos` figures: the mean pairwise difference between the cells of a 2×2 grid of the shipped model
 * (0–255 per channel), averaged over twenty prompts, at chaos 0, 25, 50 and 100.
 */
import path from 'node:path';
import { loadModelSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { CHAOS_LEVELS, CHAOS_PROMPTS, meanPairwiseDifference } from '../helpers/chaos.js';
import type { BenchResult } from './queue.js';

const root = path.resolve(import.meta.dirname, '..', '..');

/** The figures, as `bench` prints them. */
export async function benchChaos(): Promise<BenchResult> {
  const spec = loadModelSpec(path.join(root, 'models', 'flowbot-emoji'));
  const backend = new OnnxBackend({ executionProvider: 'cpu' });
  const pipeline = new Pipeline(backend);
  const figures: Record<string, string> = {};
  for (const chaos of CHAOS_LEVELS) {
    let sum = 0;
    for (const [i, prompt] of CHAOS_PROMPTS.entries()) {
      const grid = await pipeline.generate({ model: spec, prompt, seed: 1000 + i, n: 4, chaos });
      sum += meanPairwiseDifference(grid.images);
    }
    figures[`chaos ${chaos}`] = `${(sum / CHAOS_PROMPTS.length).toFixed(2)} mean pairwise |Δ| (0–255)`;
  }
  await backend.dispose();
  return { name: `--chaos: cells of a grid, flowbot-emoji, ${CHAOS_PROMPTS.length} prompts`, figures };
}
