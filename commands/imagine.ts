/** `imagine <prompt with flags>`: a grid of `--n` images (default 4). */
import type { GenerateParams } from '../src/jobs.js';
import { sizeFor } from '../src/pipeline/request.js';
import { type PromptParams, parsePrompt } from '../src/prompt/params.js';
import { type CommandDeps, enqueue, newSeed, truncate } from './context.js';
import { capDefaults, limitsFor } from './limits.js';
import { effectiveDefaults } from './settings-model.js';
import { type ChatContext, type Reply, say } from './types.js';

/** Parses a prompt with this server's limits and the person's defaults applied. */
export function readPrompt(deps: CommandDeps, text: string, allowEmptyPrompt = false) {
  const { maxSteps, maxN, maxSide } = limitsFor(deps);
  return parsePrompt(text, {
    limits: { maxSteps, maxN, maxSide },
    models: deps.models.list(),
    allowEmptyPrompt,
  });
}

/** Generation parameters from parsed flags, the person's defaults and the model's own. */
export function generationFrom(
  deps: CommandDeps,
  ctx: ChatContext,
  params: PromptParams,
  seed: number,
): Omit<GenerateParams, 'explanation'> {
  const defaults = capDefaults(
    effectiveDefaults(deps.store, ctx.userId, ctx.channelId),
    limitsFor(deps, ctx),
  );
  const model = params.model ?? defaults.model ?? deps.defaultModel;
  const spec = deps.models.get(model);
  const style = params.style ?? defaults.style;
  if (style && spec.styles.length > 0 && !spec.styles.includes(style)) {
    throw new Error(`The model ${model} has no style "${style}". Styles: ${spec.styles.join(', ')}.`);
  }
  const ar =
    params.aspectRatio ??
    (defaults.ar
      ? { width: Number(defaults.ar.split(':')[0]), height: Number(defaults.ar.split(':')[1]) }
      : undefined);
  const size = sizeFor(spec, {
    ...(params.size ? { size: params.size } : {}),
    ...(ar ? { aspectRatio: ar } : {}),
  });
  const negative = [params.negativePrompt, defaults.negative].filter((x) => x).join(', ');
  return {
    prompt: style ? `${params.prompt} in ${style} style` : params.prompt,
    negativePrompt: negative,
    seed,
    steps: params.steps ?? defaults.steps ?? spec.defaults.steps,
    guidance: params.guidance ?? defaults.guidance ?? spec.defaults.guidance,
    width: size.width,
    height: size.height,
    n: params.n ?? defaults.n ?? 4,
    model,
    ...(params.scheduler ? { scheduler: params.scheduler } : {}),
  };
}

/** Handles `imagine`. */
export function imagine(deps: CommandDeps, ctx: ChatContext, text: string): Reply {
  const parsed = readPrompt(deps, text);
  if (!parsed.ok) return say(parsed.error.message);
  let generation: Omit<GenerateParams, 'explanation'>;
  try {
    generation = generationFrom(deps, ctx, parsed.value, parsed.value.seed ?? newSeed());
  } catch (error) {
    return say((error as Error).message);
  }
  const count = generation.n === 1 ? '1 image' : `${generation.n} images`;
  const explanation = `Imagined: "${truncate(generation.prompt, 200)}" · ${count} · ${generation.width}×${generation.height} · seed ${generation.seed}`;
  return enqueue(deps, ctx, { kind: 'generate', params: { ...generation, explanation } });
}
