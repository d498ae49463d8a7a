/**
 * Toolkit figures on the shipped model: for `--chaos`, the mean pairwise difference between the cells
 * of a 2×2 grid (0–255 per channel) averaged over twenty prompts at chaos 0, 25, 50 and 100; for
 * `--draft`, the time of a 2×2 grid at the draft's steps and at the full steps.
 */
import path from 'node:path';
import { draftSteps } from '../../src/pipeline/draft.js';
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
  // Draft and full grids alternate, and the medians are reported, so a busy machine skews both alike.
  const times: Record<'draft' | 'full', number[]> = { draft: [], full: [] };
  const steps = { draft: draftSteps(spec), full: spec.defaults.steps };
  for (const [i, prompt] of CHAOS_PROMPTS.entries())
    for (const kind of ['draft', 'full'] as const) {
      const started = performance.now();
      await pipeline.generate({ model: spec, prompt, seed: i, n: 4, steps: steps[kind] });
      times[kind].push(performance.now() - started);
    }
  for (const kind of ['draft', 'full'] as const) {
    figures[`${kind} grid`] =
      `${median(times[kind]).toFixed(0)} ms (${steps[kind]} steps, median of ${CHAOS_PROMPTS.length})`;
  }
  await backend.dispose();
  return { name: `--chaos and --draft, flowbot-emoji, ${CHAOS_PROMPTS.length} prompts`, figures };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
