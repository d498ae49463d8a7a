/**
 * One operation at the largest size the default limits admit for the shipped model, in a fresh
 * process, printing its peak RSS as JSON. Usage: node --import tsx test/bench/peak.ts <operation>
 */
import path from 'node:path';
import { DEFAULT_LIMITS } from '../../commands/limits.js';
import { largestSize } from '../../src/pipeline/budget.js';
import { loadModelSpec, loadUpscalerSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const spec = loadModelSpec(path.join(root, 'models', 'flowbot-emoji'));
const upscaler = loadUpscalerSpec(path.join(root, 'models', 'emoji-sr'));
const pipeline = new Pipeline(new OnnxBackend({ executionProvider: 'cpu' }));
const { width, height } = largestSize(spec, 1, 1);
const steps = DEFAULT_LIMITS.maxSteps;
const n = DEFAULT_LIMITS.maxN;
const picture = (w: number, h: number) => ({
  width: w,
  height: h,
  pixels: new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 251),
});
const operation = process.argv[2];
const base = { model: spec, prompt: 'a red apple', seed: 1, steps };
let what = '';
switch (operation) {
  case 'generate':
    await pipeline.generate({ ...base, n, width, height });
    what = `generate ${n} × ${width}×${height}, ${steps} steps`;
    break;
  case 'vary':
    await pipeline.vary({ ...base, n, image: picture(width, height), strength: 0.7 });
    what = `vary ${n} × ${width}×${height}, ${steps} steps`;
    break;
  case 'inpaint': {
    const mask = new Float32Array(width * height).fill(1, 0, (width * height) / 2);
    await pipeline.inpaint({ ...base, image: picture(width, height), mask });
    what = `inpaint ${width}×${height}, ${steps} steps`;
    break;
  }
  case 'upscale': {
    // The largest upscale MAX_OUTPUT_SIDE admits: ×4 to 4096² (from an image three upscales deep).
    const side = DEFAULT_LIMITS.maxOutputSide / 4;
    await pipeline.upscale({ image: picture(side, side), scale: 4, upscaler });
    what = `upscale ×4 of ${side}×${side} (emoji-sr)`;
    break;
  }
  case 'creative': {
    // Upscale (Creative) is admitted while its output fits the model's area.
    const side = width / 2;
    await pipeline.upscale({
      image: picture(side, side),
      scale: 2,
      upscaler,
      refine: { ...base, strength: 0.25 },
    });
    what = `upscale (creative) ×2 of ${side}×${side}, ${steps} steps`;
    break;
  }
  default:
    throw new Error(`unknown operation ${operation}`);
}
console.log(JSON.stringify({ what, peakRssMB: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6) }));
