/**
 * Pipeline figures: efficiency (time inside session.run ÷ end-to-end time), RSS growth over repeated
 * generations, upscale memory, and the 2×2 grid time of the shipped model split by stage.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { encodePng } from '../../src/pipeline/image.js';
import { loadModelSpec, loadUpscalerSpec, type ModelSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { BenchResult } from './queue.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const fixtures = path.join(root, 'test', 'fixtures', 'models');

async function efficiency(
  spec: ModelSpec,
  label: string,
  runs: number,
  overrides: { steps?: number; width?: number; height?: number } = {},
): Promise<BenchResult> {
  const backend = new OnnxBackend({ executionProvider: 'cpu' });
  const pipeline = new Pipeline(backend);
  const request = {
    model: spec,
    prompt: 'a lighthouse at dusk',
    negativePrompt: 'fog',
    seed: 1,
    n: 4,
    ...overrides,
  };
  await pipeline.generate(request); // warm-up: session creation is not part of a generation
  const before = await pipeline.sessionRunMs(spec);
  const start = performance.now();
  const stages = { textEncoder: 0, denoise: 0, decode: 0, png: 0 };
  for (let i = 0; i < runs; i++) {
    const result = await pipeline.generate({ ...request, seed: i });
    stages.textEncoder += result.timings.textEncoder!;
    stages.denoise += result.timings.denoise!;
    stages.decode += result.timings.decode!;
    const pngStart = performance.now();
    await pipeline.grid(result.images);
    stages.png += performance.now() - pngStart;
  }
  const total = performance.now() - start;
  const inside = (await pipeline.sessionRunMs(spec)) - before;
  await backend.dispose();
  const ms = (value: number) => Number((value / runs).toFixed(1));
  return {
    name: `${label}: 2×2 grid (n=4, ${overrides.steps ?? spec.defaults.steps} steps, ${overrides.width ?? spec.nativeSize.width}px), ${runs} runs`,
    figures: {
      efficiency: Number((inside / (total - stages.png)).toFixed(3)),
      gridMs: ms(total),
      textEncoderMs: ms(stages.textEncoder),
      denoiseMs: ms(stages.denoise),
      decodeMs: ms(stages.decode),
      pngEncodeMs: ms(stages.png),
    },
  };
}

async function rssGrowth(spec: ModelSpec, generations: number): Promise<BenchResult> {
  const pipeline = new Pipeline(new OnnxBackend({ executionProvider: 'cpu' }));
  const request = { model: spec, prompt: 'a cat', seed: 1, n: 4, steps: 4 };
  for (let i = 0; i < 20; i++) await pipeline.generate({ ...request, seed: i });
  global.gc?.();
  const warm = process.memoryUsage().rss;
  let peak = warm;
  for (let i = 0; i < generations; i++) {
    const result = await pipeline.generate({ ...request, seed: 100 + i });
    await encodePng(result.images[0]!);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  global.gc?.();
  const after = process.memoryUsage().rss;
  return {
    name: `RSS over ${generations} generations after 20 warm-up (${spec.name})`,
    figures: {
      warmMB: Math.round(warm / 1e6),
      afterMB: Math.round(after / 1e6),
      growthMB: Math.round((after - warm) / 1e6),
      peakMB: Math.round(peak / 1e6),
    },
  };
}

async function upscaleMemory(): Promise<BenchResult> {
  const pipeline = new Pipeline(new OnnxBackend({ executionProvider: 'cpu' }));
  const shipped = path.join(root, 'models', 'emoji-sr');
  const spec = loadUpscalerSpec(existsSync(shipped) ? shipped : path.join(fixtures, 'sr-x4-tiny'));
  const side = 1024;
  const pixels = new Uint8Array(side * side * 3).map((_, i) => (i * 31) % 251);
  const image = { width: side, height: side, pixels };
  // Warm-up on a small image with the same tile size: session creation and ONNX Runtime's arena for one
  // tile are paid here, so the figure below is what the large image adds.
  await pipeline.upscale({
    image: { width: 256, height: 256, pixels: pixels.subarray(0, 256 * 256 * 3) },
    scale: 4,
    upscaler: spec,
    tile: 128,
  });
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const start = performance.now();
  const result = await pipeline.upscale({ image, scale: 4, upscaler: spec, tile: 128 });
  const ms = performance.now() - start;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  const out = result.images[0]!;
  const outputMB = (out.width * out.height * 3) / 1e6;
  // Bound on what the large image adds after the warm-up: the output bytes, the float accumulators of two
  // bands (2·tile·scale rows × output width × 4 floats), and one input and one output tile as floats.
  // Nothing else grows with the image: ONNX Runtime's memory is sized by the tile.
  const tileOut = 128 * spec.scale;
  const boundMB =
    (outputMB * 1e6 + 2 * tileOut * out.width * 4 * 4 + (128 * 128 + tileOut * tileOut) * 3 * 4 * 2) / 1e6;
  return {
    name: `upscale ×4 of ${side}×${side} with ${spec.name}, 128 px tiles`,
    figures: {
      ms: Math.round(ms),
      output: `${out.width}×${out.height}`,
      rssDeltaPeakMB: Math.round((peak - before) / 1e6),
      statedBoundMB: Math.round(boundMB),
    },
  };
}

async function upscaleOne(): Promise<BenchResult> {
  const pipeline = new Pipeline(new OnnxBackend({ executionProvider: 'cpu' }));
  const figures: Record<string, number> = {};
  for (const name of ['emoji-sr', 'esrgan-slim', 'esrgan-medium']) {
    const dir = path.join(root, 'models', name);
    if (!existsSync(dir)) continue;
    const spec = loadUpscalerSpec(dir);
    const image = { width: 64, height: 64, pixels: new Uint8Array(64 * 64 * 3).map((_, i) => (i * 7) % 256) };
    await pipeline.upscale({ image, scale: 4, upscaler: spec }); // warm-up
    const start = performance.now();
    for (let i = 0; i < 5; i++) await pipeline.upscale({ image, scale: 4, upscaler: spec });
    figures[`${name}Ms`] = Math.round((performance.now() - start) / 5);
  }
  return { name: 'upscale ×4 of one 64×64 image (the shipped model’s native size)', figures };
}

/** Peak RSS of a 1024² VAE decode, untiled and in 512 px tiles, each in a fresh process. */
async function decodeMemory(folder: string): Promise<BenchResult> {
  const run = (tile: number) => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(import.meta.dirname, 'vae-decode.ts'),
        path.join(fixtures, folder),
        String(tile),
      ],
      { encoding: 'utf8' },
    );
    return JSON.parse(out.trim().split('\n').pop()!) as { ms: number; baselineMB: number; peakRssMB: number };
  };
  const whole = run(0);
  const tiled = run(512);
  return {
    name: `1024×1024 VAE decode (${folder}'s 16-channel decoder), each in a fresh process`,
    figures: {
      untiledPeakRssMB: whole.peakRssMB,
      tiledPeakRssMB: tiled.peakRssMB,
      tiledOverUntiledPeak: Number((tiled.peakRssMB / whole.peakRssMB).toFixed(2)),
      untiledMs: whole.ms,
      tiledMs: tiled.ms,
      baselineMB: whole.baselineMB,
    },
  };
}

/** Peak RSS of the largest request the default limits admit, per operation, each in a fresh process. */
async function admittedPeaks(): Promise<BenchResult> {
  const figures: Record<string, string> = {};
  for (const operation of ['generate', 'vary', 'inpaint', 'upscale', 'creative']) {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, 'peak.ts'), operation],
      {
        encoding: 'utf8',
      },
    );
    const { what, peakRssMB } = JSON.parse(out.trim().split('\n').pop()!) as {
      what: string;
      peakRssMB: number;
    };
    figures[`${operation}PeakMB`] = `${peakRssMB} (${what})`;
  }
  return {
    name: 'peak RSS of the largest requests the default limits admit (shipped model; budget 2048 MB)',
    figures,
  };
}

/** Every pipeline benchmark that can run here (the shipped model's only once it exists). */
export function pipelineBenches(): (() => Promise<BenchResult>)[] {
  const shippedDir = path.join(root, 'models', 'flowbot-emoji');
  const benches = [
    () => efficiency(loadModelSpec(path.join(fixtures, 'sd-tiny')), 'fixture sd-tiny', 20),
    () => efficiency(loadModelSpec(path.join(fixtures, 'flow-tiny')), 'fixture flow-tiny', 20),
    ...['sdxl-tiny', 'sd3-tiny', 'flux-schnell-tiny', 'flux-dev-tiny'].map(
      (folder) => () =>
        efficiency(loadModelSpec(path.join(fixtures, folder)), `fixture ${folder}`, 10, {
          steps: 4,
          width: 128,
          height: 128,
        }),
    ),
    () => decodeMemory('sd3-tiny'),
    () => rssGrowth(loadModelSpec(path.join(fixtures, 'flow-tiny')), 200),
    upscaleOne,
    upscaleMemory,
  ];
  if (existsSync(path.join(shippedDir, 'model.json'))) {
    benches.splice(2, 0, () => efficiency(loadModelSpec(shippedDir), 'shipped flowbot-emoji', 10));
    benches.push(admittedPeaks);
  }
  return benches;
}
