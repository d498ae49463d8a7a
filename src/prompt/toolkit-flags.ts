/**
 * The flags people bring from Midjourney's toolkit: `--chaos 0–100`, `--repeat 1–8`, `--tile`,
 * `--draft` and `--iw 0–2` (image weight, for a prompt with an image attached). They are read by the one prompt parser (`params.ts`) like every other flag.
 */
import { ErrorCode, UserError } from '../errors.js';
import { parseDecimal, parseInteger } from './flag-values.js';
import type { FlagSpec, ParamsDraft, PromptParams } from './param-types.js';

/** The largest `--repeat`. */
export const MAX_REPEAT = 8;

/** The largest `--iw` (Midjourney's range; its default is 1). */
export const MAX_IMAGE_WEIGHT = 2;

/** `--chaos`, `--repeat`, `--tile`, `--draft` and `--iw`. */
export const TOOLKIT_FLAGS: readonly FlagSpec[] = [
  {
    name: 'iw',
    aliases: [],
    multiWord: false,
    expected: 'number',
    apply: (value, draft) => {
      const weight = parseDecimal('iw', value, 0, MAX_IMAGE_WEIGHT);
      if (weight instanceof UserError) return weight;
      draft.imageWeight = weight;
      return undefined;
    },
  },
  {
    name: 'chaos',
    aliases: ['c'],
    multiWord: false,
    expected: 'integer',
    apply: (value, draft) => {
      const chaos = parseInteger('chaos', value, 0, 100);
      if (chaos instanceof UserError) return chaos;
      draft.chaos = chaos;
      return undefined;
    },
  },
  {
    name: 'repeat',
    aliases: ['r'],
    multiWord: false,
    expected: 'integer',
    apply: (value, draft) => {
      const repeat = parseInteger('repeat', value, 1, MAX_REPEAT);
      if (repeat instanceof UserError) return repeat;
      draft.repeat = repeat;
      return undefined;
    },
  },
  {
    name: 'tile',
    aliases: [],
    multiWord: false,
    takesValue: false,
    expected: 'nothing',
    apply: (_value, draft) => {
      draft.tile = true;
      return undefined;
    },
  },
  {
    name: 'draft',
    aliases: [],
    multiWord: false,
    takesValue: false,
    expected: 'nothing',
    apply: (_value, draft) => {
      draft.draft = true;
      return undefined;
    },
  },
];

/** Flags that contradict each other: a draft picks its own step count. */
export function toolkitConflict(draft: ParamsDraft): UserError | undefined {
  if (draft.draft && draft.steps !== undefined) {
    return new UserError(
      ErrorCode.FlagConflict,
      'Use either --draft (the fastest good step count) or --steps, not both.',
    );
  }
  return undefined;
}

/** The toolkit flags as prompt text, for `formatPrompt`. */
export function formatToolkitFlags(params: PromptParams): string[] {
  return [
    ...(params.chaos !== undefined ? [`--chaos ${params.chaos}`] : []),
    ...(params.repeat !== undefined ? [`--repeat ${params.repeat}`] : []),
    ...(params.tile ? ['--tile'] : []),
    ...(params.draft ? ['--draft'] : []),
    ...(params.imageWeight !== undefined ? [`--iw ${params.imageWeight}`] : []),
  ];
}
