/**
 * `npm run cli -- <command>`: the pipeline from a terminal.
 *
 *   imagine "<prompt with flags>" --out grid.png [--model NAME] [--n N]
 *   vary in.png --out out.png [--strength 0.6] [--seed N] [--prompt "..."]
 *   inpaint in.png (--mask mask.png | --region "top left") --prompt "..." --out out.png
 *   upscale in.png --out out.png [--scale 4] [--creative]
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { ConfigError, ErrorCode, FlowbotError, UserError } from '../errors.js';
import { parseRegion, regionMask } from '../masks/regions.js';
import { composeGrid, encodePng, readImage, readMask } from '../pipeline/image.js';
import { loadModelSpec, loadUpscalerSpec, type ModelSpec, type UpscalerSpec } from '../pipeline/model.js';
import { OnnxBackend } from '../pipeline/onnx.js';
import { Pipeline, type PipelineProgress } from '../pipeline/pipeline.js';
import { pngText, schedulerFor, sizeFor } from '../pipeline/recipe.js';
import { parsePrompt } from '../prompt/params.js';

/** `vary` without --strength: a subtle variation (the strength of chat's Vary (Subtle)). */
const DEFAULT_VARY_STRENGTH = 0.35;

const USAGE = `Usage: npm run cli -- <command> [options]

  imagine "<prompt with flags>" [--out grid.png] [--model NAME|FOLDER] [--n N]
  vary in.png [--out out.png] [--strength 0.6] [--seed N] [--prompt "..."] [--model NAME|FOLDER]
  inpaint in.png (--mask mask.png | --region "top left") --prompt "..." [--out out.png] [--model NAME|FOLDER]
  upscale in.png [--out out.png] [--scale 2|4] [--creative [--model NAME|FOLDER]]

--model takes a folder name under MODELS_DIR or a path to a model folder; --out defaults to
flowbot-<command>.png in the current directory.`;

function progressBar(label: string): (progress: PipelineProgress) => void {
  if (!process.stderr.isTTY) return () => undefined;
  return ({ step, total }) => {
    const width = 24;
    const filled = Math.round((step / total) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${step}/${total}`);
    if (step === total) process.stderr.write('\n');
  };
}

function randomSeed(): number {
  return Math.floor(Math.random() * 4_294_967_295);
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      model: { type: 'string' },
      n: { type: 'string' },
      strength: { type: 'string' },
      seed: { type: 'string' },
      prompt: { type: 'string' },
      mask: { type: 'string' },
      region: { type: 'string' },
      scale: { type: 'string' },
      creative: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, input] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  const backend = new OnnxBackend({ executionProvider: config.executionProvider });
  const pipeline = new Pipeline(backend, {
    vaeTile: config.vaeTile,
    releaseTextEncoders: config.releaseTextEncoders,
    memoryBudgetMB: config.memoryBudgetMB,
  });
  // A name is a folder under MODELS_DIR; anything with a path separator is a folder path.
  const model = (name?: string): ModelSpec =>
    loadModelSpec(
      name && /[\\/]/.test(name) ? path.resolve(name) : path.join(config.modelsDir, name ?? config.model),
    );
  const number = (text: string | undefined, flag: string): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isFinite(value))
      throw new UserError(ErrorCode.FlagValue, `Expected a number for --${flag} but received "${text}".`);
    return value;
  };
  const out = path.resolve(values.out ?? `flowbot-${command}.png`);
  const write = (png: Buffer) => {
    writeFileSync(out, png);
    console.log(`wrote ${out}`);
  };

  if (command === 'imagine') {
    const parsed = parsePrompt(input ?? '');
    if (!parsed.ok) throw parsed.error;
    const params = parsed.value;
    const spec = model(values.model ?? params.model);
    const seed = params.seed ?? number(values.seed, 'seed') ?? randomSeed();
    const size = sizeFor(spec, params);
    const result = await pipeline.generate(
      {
        model: spec,
        prompt: params.style ? `${params.prompt} in ${params.style} style` : params.prompt,
        negativePrompt: params.negativePrompt ?? '',
        seed,
        n: params.n ?? number(values.n, 'n') ?? 4,
        ...size,
        ...(params.steps !== undefined ? { steps: params.steps } : {}),
        ...(params.guidance !== undefined ? { guidance: params.guidance } : {}),
        scheduler: schedulerFor(spec, params.scheduler),
      },
      { onProgress: progressBar('imagine') },
    );
    const recipe = {
      prompt: params.prompt,
      negativePrompt: params.negativePrompt ?? '',
      seed,
      steps: result.steps,
      guidance: result.guidance,
      scheduler: result.scheduler,
      model: spec.name,
      width: result.width,
      height: result.height,
      operation: 'generate',
    };
    write(await encodePng(await composeGrid(result.images), pngText(recipe)));
    return;
  }

  if (!input)
    throw new UserError(
      ErrorCode.FlagValue,
      `Expected an input image: npm run cli -- ${command} in.png --out out.png`,
    );
  const image = await readImage(path.resolve(input));
  if (command === 'vary' || command === 'inpaint') {
    const spec = model(values.model);
    const seed = number(values.seed, 'seed') ?? randomSeed();
    const prompt = values.prompt ?? '';
    const base = { model: spec, image, prompt, seed, n: 1 };
    let result: Awaited<ReturnType<Pipeline['vary']>>;
    let strength: number | null = null;
    if (command === 'vary') {
      strength = number(values.strength, 'strength') ?? DEFAULT_VARY_STRENGTH;
      result = await pipeline.vary({ ...base, strength }, { onProgress: progressBar('vary') });
    } else {
      let mask: Float32Array;
      if (values.mask) mask = await readMask(path.resolve(values.mask), image);
      else if (values.region) {
        const region = parseRegion(values.region);
        if (!region.ok) throw region.error;
        mask = regionMask(region.value, image.width, image.height);
      } else
        throw new UserError(ErrorCode.FlagValue, 'Expected --mask <file> or --region "<words>" for inpaint.');
      if (!prompt)
        throw new UserError(ErrorCode.PromptEmpty, 'Expected --prompt "<what to paint>" for inpaint.');
      result = await pipeline.inpaint({ ...base, mask }, { onProgress: progressBar('inpaint') });
    }
    const recipe = {
      prompt,
      negativePrompt: '',
      seed,
      steps: result.steps,
      guidance: result.guidance,
      scheduler: result.scheduler,
      model: spec.name,
      width: result.width,
      height: result.height,
      operation: command === 'vary' ? 'variation' : 'inpaint',
      strength,
    };
    write(await encodePng(result.images[0]!, pngText(recipe)));
    return;
  }
  if (command === 'upscale') {
    const scale = number(values.scale, 'scale') ?? 4;
    let upscaler: UpscalerSpec | undefined;
    try {
      upscaler = loadUpscalerSpec(path.join(config.modelsDir, config.upscaler));
    } catch {
      console.error(`no upscaler model at ${path.join(config.modelsDir, config.upscaler)}; using Lanczos`);
    }
    const seed = number(values.seed, 'seed') ?? randomSeed();
    const result = await pipeline.upscale(
      {
        image,
        scale,
        ...(upscaler ? { upscaler } : {}),
        ...(values.creative
          ? { refine: { model: model(values.model), prompt: values.prompt ?? '', seed, strength: 0.25 } }
          : {}),
      },
      { onProgress: progressBar('upscale') },
    );
    const recipe = {
      prompt: values.prompt ?? '',
      negativePrompt: '',
      seed,
      steps: result.steps,
      guidance: result.guidance,
      scheduler: result.scheduler,
      model: upscaler?.name ?? 'lanczos',
      width: result.width,
      height: result.height,
      operation: 'upscale',
    };
    write(await encodePng(result.images[0]!, pngText(recipe)));
    return;
  }
  throw new UserError(ErrorCode.FlagValue, `Unknown command "${command}".\n${USAGE}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UserError || error instanceof ConfigError || error instanceof FlowbotError) {
    console.error(`flowbot: ${error.message}`);
    process.exit(2);
  }
  console.error(`flowbot: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
