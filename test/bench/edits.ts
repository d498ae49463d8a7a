/**
 * Exact edits, each run in a fresh process (test/bench/edit-peak.ts): the peak RSS of concurrent edits of
 * a 4096² image (the largest an upscale makes) against the memory budget, and how long one edit of a
 * normal image takes from the reply to its stored result.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import type { BenchResult } from './queue.js';

/** What the memory figures are compared with: the budget the bench gives the process. */
const BUDGET_MB = 2048;

function child(args: string[]): Record<string, number> {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', path.join(import.meta.dirname, 'edit-peak.ts'), ...args],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
}

/** Peak RSS of concurrent edits of one 4096² image, by number of edits and queue concurrency. */
export async function benchEditMemory(): Promise<BenchResult> {
  const t = tempDir('flowbot-bench-edits-');
  try {
    child(['setup', t.dir, '4096']);
    const figures: Record<string, string> = {};
    const runs: [string, number, string, number][] = [
      ['one darker', 1, 'darker', 1],
      ['one backdrop recolour', 1, 'make the background blue', 1],
      ['24 mixed edits', 24, 'darker,mirror,sepia', 1],
      ['48 mixed edits', 48, 'darker,mirror,sepia', 1],
      ['48 mixed edits, QUEUE_CONCURRENCY 2', 48, 'darker,mirror,sepia', 2],
    ];
    for (const [label, edits, replies, concurrency] of runs) {
      const r = child(['burst', t.dir, String(edits), replies, String(BUDGET_MB), String(concurrency)]);
      figures[label] =
        `peak ${r.peakRssMB} MB (${r.peakRssMB! - r.baselineMB!} over the ${r.baselineMB} MB at rest) · ${r.succeeded} made, ${r.refused} refused · ${(r.ms! / 1000).toFixed(1)} s`;
    }
    return { name: `exact edits of a 4096×4096 image (MEMORY_BUDGET_MB ${BUDGET_MB})`, figures };
  } finally {
    t.cleanup();
  }
}

/** Reply-to-result time of one edit at a time, on an idle queue. */
export async function benchEditLatency(): Promise<BenchResult> {
  const figures: Record<string, string> = {};
  for (const side of [64, 1024]) {
    const t = tempDir('flowbot-bench-edits-');
    try {
      child(['setup', t.dir, String(side)]);
      const r = child(['latency', t.dir, '20', 'darker']);
      figures[`${side}×${side}`] = `median ${r.medianMs} ms, p95 ${r.p95Ms} ms`;
    } finally {
      t.cleanup();
    }
  }
  return { name: 'one "darker", from the reply to its stored image (20 in turn, idle queue)', figures };
}
