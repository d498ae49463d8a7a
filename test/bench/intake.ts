/**
 * The security review's PNG (20 zTXt chunks that inflate to 49 MB each, about 1 MB in all) on each way
 * an image enters, each in a fresh process ({@link ./intake-path.ts}): the time until flowbot answers,
 * how far the peak RSS of the process doing the work rises, and the longest event-loop stall.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { haveRedisServer } from '../helpers/redis.js';
import type { BenchResult } from './queue.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

interface Measured {
  readonly ms: number;
  readonly extraPeakRssMB: number;
  readonly longestStallMs: number;
  readonly answer: string;
}

function measure(way: string): Measured {
  const output = execFileSync(process.execPath, ['--import', 'tsx', 'test/bench/intake-path.ts', way], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'error' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const line = output.split('\n').find((l) => l.startsWith('{"way"'));
  if (!line) throw new Error(`no measurement from ${way}: ${output.slice(-500)}`);
  return JSON.parse(line) as Measured;
}

/** Refusal time, extra peak RSS and event-loop stall per way in. */
export async function benchIntake(): Promise<BenchResult> {
  const ways = ['discord-reply', 'mask-editor', 'cli-input', ...(haveRedisServer() ? ['worker-redis'] : [])];
  const figures: Record<string, string> = {};
  for (const way of ways) {
    const m = measure(way);
    // For the worker, the RSS is the worker process's; the stall would be this process's, so is left out.
    const stall = way === 'worker-redis' ? '' : `, longest stall ${m.longestStallMs} ms`;
    figures[way] = `${m.ms} ms, +${m.extraPeakRssMB} MB peak RSS${stall}: ${m.answer.slice(0, 60)}`;
  }
  return { name: 'hostile 1 MB PNG (20 × 49 MB zTXt), each way in', figures };
}
