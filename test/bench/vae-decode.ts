/**
 * One VAE decode of a 1024×1024 image in a fresh process, printing its peak RSS as JSON, so that tiled
 * and untiled decodes are compared without one's allocations colouring the other's figure.
 * Usage: node --import tsx test/bench/vae-decode.ts <model folder> <tile px, 0 = untiled>
 */
import { loadModelSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { gaussianNoise } from '../../src/pipeline/random.js';
import { Vae } from '../../src/pipeline/vae.js';

const [dir, tileText] = process.argv.slice(2);
const spec = loadModelSpec(dir!);
const backend = new OnnxBackend({ executionProvider: 'cpu' });
await backend.load(spec.files.vaeDecoder);
const baseline = process.memoryUsage().rss;
const side = 1024 / spec.latent.downscale;
const latents = gaussianNoise(1, spec.latent.channels * side * side);
const start = performance.now();
await new Vae(backend, { tile: Number(tileText) }).decode(spec, latents, side, side);
const ms = performance.now() - start;
console.log(
  JSON.stringify({
    ms: Math.round(ms),
    baselineMB: Math.round(baseline / 1e6),
    peakRssMB: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6),
  }),
);
