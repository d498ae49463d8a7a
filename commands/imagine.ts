/** `imagine <prompt with flags>`: a grid of `--n` images (default 4). */
import type { GenerateParams } from '../src/jobs.js';
import type { LoraUse } from '../src/lora/library.js';
import { tileRefusal } from '../src/pipeline/circular.js';
import { draftDenoiser, draftSteps } from '../src/pipeline/draft.js';
import { sizeFor } from '../src/pipeline/recipe.js';
import { formatMultiPrompt, isMultiPrompt, parseMultiPrompt } from '../src/prompt/multiprompt.js';
import { type PromptParams, parsePrompt } from '../src/prompt/params.js';
import { expandPermutations } from '../src/prompt/permutations.js';
import { type CommandDeps, enqueueAll, newSeed, truncate } from './context.js';
import { capDefaults, limitsFor } from './limits.js';
import { defaultLoras } from './loras.js';
import { pastedLinkAnswer } from './pasted-links.js';
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
  // Refused here, before queueing, for models that cannot make tiles.
  const untileable = params.tile ? tileRefusal(spec) : undefined;
  if (untileable) throw untileable;
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
    prompt: styled(params.prompt, style),
    negativePrompt: negative,
    seed,
    steps: params.draft ? draftSteps(spec) : (params.steps ?? defaults.steps ?? spec.defaults.steps),
    guidance: params.guidance ?? defaults.guidance ?? spec.defaults.guidance,
    width: size.width,
    height: size.height,
    n: params.n ?? defaults.n ?? 4,
    model,
    ...(params.scheduler ? { scheduler: params.scheduler } : {}),
    ...(params.chaos !== undefined ? { chaos: params.chaos } : {}),
    ...(params.draft ? { draft: true } : {}),
    ...(params.tile ? { tile: true } : {}),
    ...loraParams(params.loras ?? defaultLoras(defaults.lora)),
  };
}

/** `loras` when there are any (weight-0 ones too: asked for, and recorded). */
function loraParams(loras: readonly LoraUse[] | undefined): { loras?: LoraUse[] } {
  return loras && loras.length > 0 ? { loras: [...loras] } : {};
}

/**
 * The prompt with its style words (on each part of a multi-prompt, so `cat::2 dog` stays a mix of two
 * cats and dogs in that style); a multi-prompt whose weights cannot work is refused here, before queueing.
 */
function styled(prompt: string, style: string | undefined): string {
  const parts = parseMultiPrompt(prompt);
  if (!parts.ok) throw parts.error;
  if (!style) return prompt;
  if (!isMultiPrompt(prompt)) return `${prompt} in ${style} style`;
  return formatMultiPrompt(parts.value.map((part) => ({ ...part, text: `${part.text} in ${style} style` })));
}

/** Handles `imagine`: one job, or one per permutation and `--repeat`, all passing the gate together. */
export function imagine(deps: CommandDeps, ctx: ChatContext, text: string): Reply[] {
  const link = pastedLinkAnswer(text);
  if (link) return [link];
  const { maxPermutations } = limitsFor(deps, ctx);
  const prompts = expandPermutations(text, maxPermutations);
  if (!prompts.ok) return [say(prompts.error.message)];
  const shared = newSeed();
  const generations: Omit<GenerateParams, 'explanation'>[] = [];
  for (const prompt of prompts.value) {
    const parsed = readPrompt(deps, prompt);
    if (!parsed.ok)
      return [
        say(
          prompts.value.length > 1
            ? `In "${truncate(prompt, 120)}": ${parsed.error.message}`
            : parsed.error.message,
        ),
      ];
    let generation: Omit<GenerateParams, 'explanation'>;
    try {
      // Permutations share one seed, so they differ only in their words.
      generation = generationFrom(deps, ctx, parsed.value, parsed.value.seed ?? shared);
    } catch (error) {
      return [say((error as Error).message)];
    }
    generations.push(...repeated(generation, parsed.value));
  }
  if (generations.length > maxPermutations) {
    return [
      say(
        `That makes ${generations.length} jobs (${prompts.value.length} prompt${prompts.value.length === 1 ? '' : 's'} with --repeat); at most ${maxPermutations} are allowed here at once.`,
      ),
    ];
  }
  return enqueueAll(
    deps,
    ctx,
    generations.map((generation, i) => ({
      kind: 'generate',
      params: { ...generation, explanation: explain(deps, generation, i, generations.length) },
    })),
  );
}

/**
 * `--repeat N`: the generation N times with new seeds (with `--seed`, the seeds after each grid's own,
 * so the whole set can be made again).
 */
function repeated(
  generation: Omit<GenerateParams, 'explanation'>,
  params: PromptParams,
): Omit<GenerateParams, 'explanation'>[] {
  return Array.from({ length: params.repeat ?? 1 }, (_, k) => {
    if (k === 0) return generation;
    const seed = params.seed === undefined ? newSeed() : (params.seed + k * generation.n) % 4_294_967_296;
    return { ...generation, seed };
  });
}

/** The result line: the (expanded) prompt, what is made, and which of the request's jobs this is. */
function explain(
  deps: CommandDeps,
  generation: Omit<GenerateParams, 'explanation'>,
  index: number,
  total: number,
): string {
  const count = generation.n === 1 ? '1 image' : `${generation.n} images`;
  const which = total > 1 ? ` · ${index + 1} of ${total}` : '';
  const chaos = generation.chaos !== undefined ? ` · chaos ${generation.chaos}` : '';
  const draft = generation.draft ? ` · ${draftNote(deps, generation)}` : '';
  const tile = generation.tile ? ' · tile' : '';
  return `Imagined: "${truncate(generation.prompt, 200)}" · ${count} · ${generation.width}×${generation.height} · seed ${generation.seed}${chaos}${draft}${tile}${which}`;
}

/** "draft (2 steps)", saying so where the model's draft denoiser (a distilled student) makes it. */
function draftNote(deps: CommandDeps, generation: Omit<GenerateParams, 'explanation'>): string {
  const denoiser = draftDenoiser(deps.models.get(generation.model)) ? ' of the draft denoiser' : '';
  return `draft (${generation.steps} steps${denoiser})`;
}
