/**
 * `npm run bench -- lora`: applying a rank-16 LoRA to the full-size SD 1.5 UNet (860M parameters, 3.4 GB
 * of float32 in external data: `npm run conformance:make -- peers` makes it). The LoRA is made by
 * `lora-child.ts make` (random, seeded, kohya's layout, every Linear of the Transformer2DModels: 192
 * layers, 27 MB). Each figure comes from a fresh process: the UNet's session alone, then the session
 * with the LoRA (read, merge, session creation); the extra peak memory is the difference of their
 * peak RSS rises. Session creation reads 3.4 GB, so the first run of each after a cold start is slower.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import type { BenchResult } from './queue.js';

const UNET = path.join(import.meta.dirname, '..', 'conformance', 'peers', 'sd15-full', 'unet', 'model.onnx');

function child(args: string[]): Record<string, number> {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', path.join(import.meta.dirname, 'lora-child.ts'), ...args],
    { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' } },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
}

/** Times and peak memory of the UNet's session with and without a LoRA merged. */
export async function benchLora(): Promise<BenchResult> {
  if (!existsSync(UNET)) {
    return {
      name: 'LoRA on the full-size SD 1.5 UNet',
      figures: { skipped: `no ${UNET}: run npm run conformance:make -- peers --no-validation` },
    };
  }
  const t = tempDir('flowbot-bench-lora-');
  try {
    const lora = path.join(t.dir, 'bench-rank16.safetensors');
    const made = child(['make', UNET, lora, '16']);
    // Warm the page cache once, so both figures read the weights from memory.
    child(['plain', UNET]);
    const plain = child(['plain', UNET]);
    const merged = child(['lora', UNET, lora]);
    return {
      name: 'LoRA on the full-size SD 1.5 UNet (rank 16, 2 threads)',
      figures: {
        lora: `${made.layers} layers, ${made.mb} MB`,
        'session alone': `${(plain.ms! / 1000).toFixed(1)} s · peak +${plain.peakRiseMB} MB`,
        'session with the LoRA': `${(merged.ms! / 1000).toFixed(1)} s (read + merge ${(merged.mergeMs! / 1000).toFixed(1)} s) · peak +${merged.peakRiseMB} MB`,
        'applying the LoRA': `${((merged.ms! - plain.ms!) / 1000).toFixed(1)} s more than the session alone · ${(merged.ms! / 1000).toFixed(1)} s from the file (target < 10 s)`,
        'extra peak memory': `${merged.peakRiseMB! - plain.peakRiseMB!} MB`,
      },
    };
  } finally {
    t.cleanup();
  }
}
