/**
 * Toolkit figures on the shipped model: for `--chaos`, the mean pairwise difference between the cells
 * of a 2×2 grid (0–255 per channel) averaged over twenty prompts at chaos 0, 25, 50 and 100; for
 * `--draft`, the time of a 2×2 grid as a draft (the draft denoiser at its steps and guidance, as
 * `--draft` runs it) against the full grid (the denoiser at the model's steps and guidance), and their
 * ratio, taken in one run.
 */
import path from 'node:path';
import { draftSteps } from '../../src/pipeline/draft.js';
import { loadModelSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { CHAOS_LEVELS, CHAOS_PROMPTS, meanPairwiseDifference } from '../helpers/chaos.js';
import type { BenchResult } from './queue.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const shipped = () => loadModelSpec(path.join(root, 'models', 'flowbot-emoji'));

/** The `--chaos` figures, as `bench` prints them. */
export async function benchChaos(): Promise<BenchResult> {
  const spec = shipped();
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
  return { name: `--chaos, flowbot-emoji, ${CHAOS_PROMPTS.length} prompts`, figures };
}

/** The `--draft` figures: a draft grid's time against the full grid's, as `bench` prints them. */
export async function benchDraft(): Promise<BenchResult> {
  const spec = shipped();
  const backend = new OnnxBackend({ executionProvider: 'cpu' });
  const pipeline = new Pipeline(backend);
  const runs = {
    draft: { steps: draftSteps(spec), draft: true },
    full: { steps: spec.defaults.steps, draft: false },
  };
  // One warm-up of each loads the sessions; then draft and full grids alternate, and the medians are
  // reported, so a busy machine skews both alike.
  for (const kind of ['draft', 'full'] as const)
    await pipeline.generate({ model: spec, prompt: 'a cat', seed: 0, n: 4, ...runs[kind] });
  const times: Record<'draft' | 'full', number[]> = { draft: [], full: [] };
  const made: Record<'draft' | 'full', string> = { draft: '', full: '' };
  for (const [i, prompt] of CHAOS_PROMPTS.entries())
    for (const kind of ['draft', 'full'] as const) {
      const started = performance.now();
      const grid = await pipeline.generate({ model: spec, prompt, seed: i, n: 4, ...runs[kind] });
      times[kind].push(performance.now() - started);
      made[kind] = `${grid.steps} steps of ${grid.denoiser ?? 'the denoiser'}, guidance ${grid.guidance}`;
    }
  const figures: Record<string, string> = {};
  for (const kind of ['draft', 'full'] as const)
    figures[`${kind} grid`] =
      `${median(times[kind]).toFixed(0)} ms (${made[kind]}; median of ${CHAOS_PROMPTS.length})`;
  figures['draft / full'] = `${(median(times.draft) / median(times.full)).toFixed(2)}`;
  await backend.dispose();
  return { name: `--draft, flowbot-emoji, 2×2 grids of ${CHAOS_PROMPTS.length} prompts`, figures };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
