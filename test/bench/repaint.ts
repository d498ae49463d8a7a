/**
 * Repaints of images larger than the model paints (issue 24): "make it night" (img2img) and a region
 * (inpainting) on the shipped model at its own largest 16:9 size, on its ×2 upscale (the issue's
 * 320×192), and on larger images up to the output limit, each in a fresh process
 * (test/bench/repaint-peak.ts). Time as a ratio to the repaint at the model's own size, and the rise of
 * the peak RSS against what the gate estimates.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { BenchResult } from './queue.js';

const MODELS = path.resolve(import.meta.dirname, '..', '..', 'models');

function child(args: string[]): Record<string, number | string> {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', path.join(import.meta.dirname, 'repaint-peak.ts'), ...args],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number | string>;
}

/** One group of figures per kind of repaint. */
async function benchRepaint(kind: 'variation' | 'inpaint'): Promise<BenchResult> {
  const sizes = [
    [160, 96],
    [320, 192],
    [1280, 768],
    [4096, 2304],
  ] as const;
  const figures: Record<string, string> = {};
  let baseMs = 0;
  for (const [width, height] of sizes) {
    const r = child([MODELS, 'flowbot-emoji', 'emoji-sr', kind, String(width), String(height)]);
    baseMs ||= Number(r.ms);
    figures[`${width}×${height}`] =
      `${r.ms} ms (×${(Number(r.ms) / baseMs).toFixed(1)}) · worked at ${r.work} · peak RSS +${r.peakRiseMB} MB, estimated ${r.estimateMB} MB`;
  }
  const what =
    kind === 'variation' ? '"make it night" (img2img 0.55)' : 'a region (inpainting the top-left quarter)';
  return { name: `${what} on flowbot-emoji, by image size (time ×: to the model's own size)`, figures };
}

/** The repaint benches: img2img and inpainting. */
export function repaintBenches(): (() => Promise<BenchResult>)[] {
  return [() => benchRepaint('variation'), () => benchRepaint('inpaint')];
}
