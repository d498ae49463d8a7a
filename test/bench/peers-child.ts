/**
 * flowbot's side of `npm run bench -- peers`, run by peers.ts in a fresh process so that its peak RSS
 * is its own: loads the folder as the CLI does (config from the environment, ONNX_THREADS included),
 * makes one image and encodes it as PNG, then prints one JSON line of figures.
 *
 *   node --import tsx test/bench/peers-child.ts <folder> <steps> <guidance> <width> <height> <prompt>
 */
import { loadConfig } from '../../src/config.js';
import { encodePng } from '../../src/pipeline/image.js';
import { loadModelSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';

const [folder, steps, guidance, width, height, prompt] = process.argv.slice(2);
const config = loadConfig();
const started = performance.now();
const backend = new OnnxBackend({ executionProvider: config.executionProvider, threads: config.onnxThreads });
const pipeline = new Pipeline(backend, {
  vaeTile: config.vaeTile,
  releaseTextEncoders: config.releaseTextEncoders,
  memoryBudgetMB: config.memoryBudgetMB,
});
const spec = loadModelSpec(folder!);
const loaded = performance.now();
// Sessions are created on first use: flowbot's load is lazy, so its "load" is the spec alone and
// session creation falls inside generate; end to end (load + generate) is the comparable figure.
const stepEnds: number[] = [];
const result = await pipeline.generate(
  {
    model: spec,
    prompt: prompt!,
    negativePrompt: '',
    seed: 1,
    n: 1,
    steps: Number(steps),
    guidance: Number(guidance),
    width: Number(width),
    height: Number(height),
  },
  { onProgress: () => stepEnds.push(performance.now()) },
);
await encodePng(result.images[0]!);
const finished = performance.now();
console.log(
  JSON.stringify({
    system: 'flowbot',
    scheduler: result.scheduler,
    threads: config.onnxThreads,
    load_s: (loaded - started) / 1000,
    generate_s: (finished - loaded) / 1000,
    step_s: (stepEnds.at(-1)! - stepEnds[0]!) / 1000 / (stepEnds.length - 1),
    // Where generate's time went (session creation falls in each stage's first run).
    stages: {
      text_encoder_s: result.timings.textEncoder! / 1000,
      denoise_s: result.timings.denoise! / 1000,
      decode_s: result.timings.decode! / 1000,
    },
    // resourceUsage().maxRSS is in kilobytes: this process's high-water mark, loading included.
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }),
);
await backend.dispose();
