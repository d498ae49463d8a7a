/**
 * The one parser for Midjourney-style prompts, shared by every adapter:
 * `a lighthouse at dusk --ar 16:9 --seed 7 --no people, text`.
 *
 * It returns a {@link Result} and never throws, whatever the input. Flags may come anywhere after the
 * prompt text; words after a single-valued flag's value flow back into the prompt. Long dashes (—, –),
 * which phones and Discord substitute for `--`, are accepted as `--`.
 */
import { ErrorCode, UserError } from '../errors.js';
import { err, ok, type Result } from '../result.js';
import { parseDecimal, parseInteger, valueError } from './flag-values.js';
import { addLora, extractLoraTags, formatLoraFlags, LORA_FLAG } from './lora-syntax.js';
import { closest } from './suggest.js';
import { formatToolkitFlags, TOOLKIT_FLAGS, toolkitConflict } from './toolkit-flags.js';

// The shared types and constants live in param-types.ts (toolkit-flags.ts uses them too).
export {
  DEFAULT_LIMITS,
  type FlagContext,
  type FlagSpec,
  type ParamLimits,
  type ParamsDraft,
  type ParseOptions,
  type PromptParams,
  SCHEDULER_NAMES,
  type SchedulerName,
} from './param-types.js';

import {
  DEFAULT_LIMITS,
  type FlagContext,
  type FlagSpec,
  type ParamLimits,
  type ParamsDraft,
  type ParseOptions,
  type PromptParams,
  SCHEDULER_NAMES,
  type SchedulerName,
} from './param-types.js';

const MAX_SEED = 4_294_967_295;
const SIZE_MULTIPLE = 8;

function pickName(flag: string, value: string, known: readonly string[] | undefined): string | UserError {
  const name = value.toLowerCase();
  if (!/^[a-z0-9._-]{1,64}$/.test(name)) return valueError(flag, 'a name (letters, digits, . _ -)', value);
  if (!known || known.includes(name)) return name;
  const guess = closest(name, known);
  return new UserError(
    ErrorCode.FlagValue,
    `Unknown ${flag} "${value}".${guess ? ` Did you mean "${guess}"?` : ''} Available: ${known.join(', ')}.`,
    { flag, received: value, allowed: known },
  );
}

const CORE_FLAGS: readonly FlagSpec[] = [
  {
    name: 'ar',
    aliases: ['aspect'],
    multiWord: false,
    expected: 'W:H',
    apply: (value, draft) => {
      const match = /^(\d{1,2}):(\d{1,2})$/.exec(value);
      const width = Number(match?.[1]);
      const height = Number(match?.[2]);
      if (!match || width < 1 || height < 1)
        return valueError('ar', 'an aspect ratio W:H such as 16:9', value);
      if (width / height > 4 || height / width > 4) {
        return valueError('ar', 'an aspect ratio between 1:4 and 4:1', value);
      }
      draft.aspectRatio = { width, height };
      return undefined;
    },
  },
  {
    name: 'seed',
    aliases: [],
    multiWord: false,
    expected: 'integer',
    apply: (value, draft) => {
      const seed = parseInteger('seed', value, 0, MAX_SEED);
      if (seed instanceof UserError) return seed;
      draft.seed = seed;
      return undefined;
    },
  },
  {
    name: 'no',
    aliases: ['negative'],
    multiWord: true,
    expected: 'text',
    apply: (value, draft) => {
      const words = value.trim();
      if (words === '') return valueError('no', 'words to avoid', value);
      draft.negativePrompt = draft.negativePrompt ? `${draft.negativePrompt}, ${words}` : words;
      return undefined;
    },
  },
  {
    name: 'steps',
    aliases: ['step'],
    multiWord: false,
    expected: 'integer',
    apply: (value, draft, { limits }) => {
      const steps = parseInteger('steps', value, 1, limits.maxSteps);
      if (steps instanceof UserError) return steps;
      draft.steps = steps;
      return undefined;
    },
  },
  {
    name: 'cfg',
    aliases: ['guidance'],
    multiWord: false,
    expected: 'number',
    apply: (value, draft) => {
      const guidance = parseDecimal('cfg', value, 0, 30);
      if (guidance instanceof UserError) return guidance;
      draft.guidance = guidance;
      return undefined;
    },
  },
  {
    name: 'n',
    aliases: ['count'],
    multiWord: false,
    expected: 'integer',
    apply: (value, draft, { limits }) => {
      const n = parseInteger('n', value, 1, limits.maxN);
      if (n instanceof UserError) return n;
      draft.n = n;
      return undefined;
    },
  },
  {
    name: 'size',
    aliases: [],
    multiWord: false,
    expected: 'WxH',
    apply: (value, draft, { limits }) => {
      const match = /^(\d{1,5})[x×](\d{1,5})$/i.exec(value);
      const width = Number(match?.[1]);
      const height = Number(match?.[2]);
      const expected = `WxH with sides ${SIZE_MULTIPLE}–${limits.maxSide} in multiples of ${SIZE_MULTIPLE}`;
      if (!match) return valueError('size', expected, value);
      for (const side of [width, height]) {
        if (side < SIZE_MULTIPLE || side > limits.maxSide || side % SIZE_MULTIPLE !== 0) {
          return valueError('size', expected, value);
        }
      }
      draft.size = { width, height };
      return undefined;
    },
  },
  {
    name: 'strength',
    aliases: [],
    multiWord: false,
    expected: 'number',
    apply: (value, draft) => {
      const strength = parseDecimal('strength', value, 0.01, 1);
      if (strength instanceof UserError) return strength;
      draft.strength = strength;
      return undefined;
    },
  },
  {
    name: 'model',
    aliases: [],
    multiWord: false,
    expected: 'name',
    apply: (value, draft, { options }) => {
      const model = pickName('model', value, options.models);
      if (model instanceof UserError) return model;
      draft.model = model;
      return undefined;
    },
  },
  {
    name: 'scheduler',
    aliases: ['sampler'],
    multiWord: false,
    expected: 'name',
    apply: (value, draft) => {
      const scheduler = pickName('scheduler', value, SCHEDULER_NAMES);
      if (scheduler instanceof UserError) return scheduler;
      draft.scheduler = scheduler as SchedulerName;
      return undefined;
    },
  },
  {
    name: 'style',
    aliases: [],
    multiWord: false,
    expected: 'name',
    apply: (value, draft, { options }) => {
      const style = pickName('style', value, options.styles);
      if (style instanceof UserError) return style;
      draft.style = style;
      return undefined;
    },
  },
];

const FLAGS: readonly FlagSpec[] = [...CORE_FLAGS, ...TOOLKIT_FLAGS, LORA_FLAG];

const FLAG_BY_NAME = new Map<string, FlagSpec>(
  FLAGS.flatMap((flag) => [flag.name, ...flag.aliases].map((n) => [n, flag])),
);

/** Every flag name (without aliases), for help texts. */
export const FLAG_NAMES: readonly string[] = FLAGS.map((flag) => flag.name);

/** Replaces long dashes that phones and chat clients substitute for `--`. */
function normaliseDashes(input: string): string {
  return input.replace(/(^|\s)(?:—|–|−−)(?=[A-Za-z])/g, '$1--');
}

/** The words of a prompt before its flags: "a lighthouse --ar 16:9" → "a lighthouse". */
export function withoutFlags(input: string): string {
  return splitWords(normaliseDashes(input)).prompt.join(' ');
}

interface FlagOccurrence {
  readonly name: string;
  readonly words: string[];
}

function splitWords(input: string): { prompt: string[]; flags: FlagOccurrence[] } {
  const prompt: string[] = [];
  const flags: FlagOccurrence[] = [];
  for (const word of input.split(/\s+/).filter((w) => w !== '')) {
    if (word.startsWith('--') && word.length > 2) {
      flags.push({ name: word.slice(2).toLowerCase(), words: [] });
    } else if (flags.length > 0) {
      flags[flags.length - 1]!.words.push(word);
    } else {
      prompt.push(word);
    }
  }
  return { prompt, flags };
}

function unknownFlag(name: string): UserError {
  const guess = closest(name, [...FLAG_BY_NAME.keys()]);
  const shown = name.length > 30 ? `${name.slice(0, 27)}...` : name;
  return new UserError(
    ErrorCode.FlagUnknown,
    `Unknown flag --${shown}.${guess ? ` Did you mean --${FLAG_BY_NAME.get(guess)!.name}?` : ''} Flags: ${FLAG_NAMES.map((f) => `--${f}`).join(', ')}.`,
    { flag: name, suggestion: guess },
  );
}

/**
 * Parses a prompt with flags. Never throws: any input yields either the parameters or a
 * {@link UserError} whose message can be shown to the person as is.
 */
export function parsePrompt(input: string, options: ParseOptions = {}): Result<PromptParams, UserError> {
  try {
    return parseUnsafe(typeof input === 'string' ? input : '', options);
  } catch (cause) {
    // A bug here must not crash a chat handler; report it as a parse failure instead.
    return err(new UserError(ErrorCode.PromptInvalid, `I could not read that prompt (${String(cause)}).`));
  }
}

function parseUnsafe(input: string, options: ParseOptions): Result<PromptParams, UserError> {
  const limits: ParamLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const context: FlagContext = { limits, options };
  if (input.length > limits.maxPromptLength * 2) {
    return err(
      new UserError(
        ErrorCode.PromptInvalid,
        `That prompt is too long: at most ${limits.maxPromptLength} characters, please.`,
      ),
    );
  }
  const { prompt, flags } = splitWords(normaliseDashes(input.normalize('NFC')));
  const draft: ParamsDraft = {};
  const seen = new Set<string>();
  for (const occurrence of flags) {
    const spec = FLAG_BY_NAME.get(occurrence.name);
    if (!spec) return err(unknownFlag(occurrence.name));
    if (seen.has(spec.name) && spec.name !== 'no' && spec.name !== 'lora') {
      return err(
        new UserError(ErrorCode.FlagRepeated, `--${spec.name} is given twice; keep one.`, {
          flag: spec.name,
        }),
      );
    }
    seen.add(spec.name);
    const taken = spec.takesValue === false ? 0 : 1;
    const value = spec.multiWord ? occurrence.words.join(' ') : (occurrence.words.slice(0, taken)[0] ?? '');
    const failure = spec.apply(value, draft, context);
    if (failure) return err(failure);
    // Words after a single-valued flag's value (or after a switch) belong to the prompt, not to the flag.
    if (!spec.multiWord) prompt.push(...occurrence.words.slice(taken));
  }
  if (draft.aspectRatio && draft.size) {
    return err(new UserError(ErrorCode.FlagConflict, 'Use either --ar or --size, not both.'));
  }
  const conflict = toolkitConflict(draft);
  if (conflict) return err(conflict);
  const tagged = extractLoraTags(prompt.join(' ').trim());
  if (tagged instanceof UserError) return err(tagged);
  const text = tagged.text;
  if (tagged.loras.length > 0) {
    // Tags first, in the order written, then --lora flags; a name given both ways is refused.
    let loras = tagged.loras;
    for (const use of draft.loras ?? []) {
      const added = addLora(loras, use);
      if (added instanceof UserError) return err(added);
      loras = added;
    }
    draft.loras = loras;
  }
  if (text.length > limits.maxPromptLength) {
    return err(
      new UserError(
        ErrorCode.PromptInvalid,
        `That prompt is too long: at most ${limits.maxPromptLength} characters, please.`,
      ),
    );
  }
  if (text === '' && !options.allowEmptyPrompt) {
    return err(
      new UserError(
        ErrorCode.PromptEmpty,
        'The prompt is empty. Describe what to draw, for example: a lighthouse at dusk --ar 16:9',
      ),
    );
  }
  return ok({ prompt: text, ...draft });
}

/** Writes parameters back as prompt text; `parsePrompt(formatPrompt(p))` gives `p` again. */
export function formatPrompt(params: PromptParams): string {
  const parts = [params.prompt];
  if (params.aspectRatio) parts.push(`--ar ${params.aspectRatio.width}:${params.aspectRatio.height}`);
  if (params.size) parts.push(`--size ${params.size.width}x${params.size.height}`);
  if (params.seed !== undefined) parts.push(`--seed ${params.seed}`);
  if (params.steps !== undefined) parts.push(`--steps ${params.steps}`);
  if (params.guidance !== undefined) parts.push(`--cfg ${params.guidance}`);
  if (params.n !== undefined) parts.push(`--n ${params.n}`);
  if (params.strength !== undefined) parts.push(`--strength ${params.strength}`);
  if (params.model !== undefined) parts.push(`--model ${params.model}`);
  if (params.scheduler !== undefined) parts.push(`--scheduler ${params.scheduler}`);
  if (params.style !== undefined) parts.push(`--style ${params.style}`);
  parts.push(...formatToolkitFlags(params));
  parts.push(...formatLoraFlags(params.loras));
  if (params.negativePrompt !== undefined) parts.push(`--no ${params.negativePrompt}`);
  return parts.filter((part) => part !== '').join(' ');
}
