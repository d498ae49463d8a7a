/**
 * The reply grammar: how a reply to a result is understood. One table of rules, tried in order; the
 * first that matches decides. Anything no rule matches refines the prompt with the reply's text.
 * A reply to a grid may start by naming a cell: "#2", "2:", "bottom left:", "U3".
 */
import { type PromptParams, parsePrompt } from '../src/prompt/params.js';

/** Grid cell names (1-based, row-major like U1–U4). */
const CELL_WORDS: Record<string, number> = {
  'top left': 1,
  'top right': 2,
  'bottom left': 3,
  'bottom right': 4,
};

/** How a reply was understood. */
export type Interpretation =
  | {
      readonly kind: 'refine';
      readonly phrase: string;
      readonly mode: 'append' | 'negative';
      readonly rule: string;
    }
  | { readonly kind: 'inpaint'; readonly region: string; readonly prompt: string }
  | { readonly kind: 'params'; readonly changes: ParamChanges }
  | { readonly kind: 'upscale'; readonly scale: 2 | 4 }
  | { readonly kind: 'reroll' }
  | { readonly kind: 'variations'; readonly strength?: 'subtle' | 'strong' }
  | { readonly kind: 'undo' }
  | { readonly kind: 'same_mask'; readonly prompt: string };

/** Parameter changes a reply can ask for. */
export interface ParamChanges {
  readonly seed?: number;
  readonly aspectRatio?: { readonly width: number; readonly height: number };
  readonly steps?: number;
  readonly guidance?: number;
  readonly strengthDelta?: number;
  readonly widen?: 'wider' | 'taller';
}

/** A reply's interpretation, with the grid cell it named (if any). */
export interface ReplyMeaning {
  readonly cell?: number;
  readonly meaning: Interpretation | { readonly kind: 'error'; readonly message: string };
}

type Rule = {
  readonly name: string;
  readonly pattern: RegExp;
  readonly build: (m: RegExpExecArray) => Interpretation | { kind: 'error'; message: string };
};

const clean = (text: string) =>
  text
    .trim()
    .replace(/^["'“”]+|["'“”.!]+$/g, '')
    .trim();

/** The rules, in the order they are tried. */
export const RULES: readonly Rule[] = [
  { name: 'undo', pattern: /^(undo|back|go back|revert|previous)$/i, build: () => ({ kind: 'undo' }) },
  {
    name: 'reroll',
    pattern: /^(again|reroll|re-roll|redo|retry|one more|another one|try again)$/i,
    build: () => ({ kind: 'reroll' }),
  },
  {
    name: 'upscale',
    pattern: /^(?:upscale|upres|enlarge|bigger|make it bigger|hd|hi-?res)(?: it)?(?: ?(?:x|by )?([24])x?)?$/i,
    build: (m) => ({ kind: 'upscale', scale: m[1] === '4' ? 4 : 2 }),
  },
  {
    name: 'variations',
    pattern:
      /^(?:(subtle|strong) )?(?:variations?|vary|vary it|more like this|similar ones?)(?: \((subtle|strong)\))?$/i,
    build: (m) => {
      const strength = (m[1] ?? m[2])?.toLowerCase() as 'subtle' | 'strong' | undefined;
      return strength ? { kind: 'variations', strength } : { kind: 'variations' };
    },
  },
  {
    name: 'same mask',
    pattern: /^(?:same mask|same region|same area)[:,]?\s*(.*)$/i,
    build: (m) => ({ kind: 'same_mask', prompt: clean(m[1] ?? '') }),
  },
  {
    name: 'region',
    pattern: /^(?:in|on|at) (?:the )?(.+?)\s*[:,]\s*(.+)$/i,
    build: (m) => ({ kind: 'inpaint', region: m[1]!.trim(), prompt: stripVerb(m[2]!) }),
  },
  {
    name: 'replace region',
    pattern: /^(?:replace|fill|repaint) (?:the )?(.+?) with (.+)$/i,
    build: (m) => ({ kind: 'inpaint', region: m[1]!.trim(), prompt: clean(m[2]!) }),
  },
  {
    name: 'stronger',
    pattern: /^(stronger|more change|change it more|bolder)$/i,
    build: () => ({ kind: 'params', changes: { strengthDelta: 0.15 } }),
  },
  {
    name: 'subtler',
    pattern: /^(subtler|more subtle|less change|gentler|softer)$/i,
    build: () => ({ kind: 'params', changes: { strengthDelta: -0.15 } }),
  },
  {
    name: 'wider',
    pattern: /^(wider|make it wider|landscape|widescreen)$/i,
    build: () => ({ kind: 'params', changes: { widen: 'wider' } }),
  },
  {
    name: 'taller',
    pattern: /^(taller|make it taller|portrait)$/i,
    build: () => ({ kind: 'params', changes: { widen: 'taller' } }),
  },
  {
    name: 'seed',
    pattern: /^(?:use )?seed (\d{1,10})$/i,
    build: (m) => ({ kind: 'params', changes: { seed: Number(m[1]) } }),
  },
  {
    name: 'steps',
    pattern: /^(?:use )?(\d{1,3}) steps?$|^steps (\d{1,3})$/i,
    build: (m) => ({ kind: 'params', changes: { steps: Number(m[1] ?? m[2]) } }),
  },
  {
    name: 'aspect',
    pattern: /^(?:--ar|ar|aspect(?: ratio)?) (\d{1,2}):(\d{1,2})$/i,
    build: (m) => ({
      kind: 'params',
      changes: { aspectRatio: { width: Number(m[1]), height: Number(m[2]) } },
    }),
  },
  { name: 'flags', pattern: /^(--\S+.*)$/, build: (m) => flagChanges(m[1]!) },
  {
    name: 'remove',
    pattern: /^(?:remove|without|no|get rid of|delete|drop|lose) (?:the )?(.+)$/i,
    build: (m) => ({ kind: 'refine', phrase: clean(m[1]!), mode: 'negative', rule: 'remove' }),
  },
  {
    name: 'add',
    pattern: /^(?:add|include|put) (.+)$/i,
    build: (m) => ({ kind: 'refine', phrase: clean(m[1]!), mode: 'append', rule: 'add' }),
  },
  {
    name: 'with',
    pattern: /^(?:with|plus) (.+)$/i,
    build: (m) => ({ kind: 'refine', phrase: `with ${clean(m[1]!)}`, mode: 'append', rule: 'with' }),
  },
  {
    name: 'make it',
    pattern: /^(?:make it|make (?:this|them|him|her)|turn it into|change it to|now) (.+)$/i,
    build: (m) => ({ kind: 'refine', phrase: clean(m[1]!), mode: 'append', rule: 'make it' }),
  },
  {
    name: 'more/less',
    pattern: /^((?:more|less|much more|a bit more|a bit less|slightly more) .+)$/i,
    build: (m) => ({ kind: 'refine', phrase: clean(m[1]!), mode: 'append', rule: 'more/less' }),
  },
  {
    name: 'style',
    pattern: /^((?:in )?(?:a |the )?.+ style)$/i,
    build: (m) => ({ kind: 'refine', phrase: styled(clean(m[1]!)), mode: 'append', rule: 'style' }),
  },
  {
    name: 'as a',
    pattern: /^(as an? .+)$/i,
    build: (m) => ({ kind: 'refine', phrase: clean(m[1]!), mode: 'append', rule: 'as a' }),
  },
];

function styled(phrase: string): string {
  return /^in /i.test(phrase) ? phrase : `in ${phrase.replace(/^(a|the) /i, '')}`;
}

function stripVerb(text: string): string {
  return clean(text.replace(/^(?:add|put|draw|paint|make it|make|place|insert)\s+/i, ''));
}

function flagChanges(text: string): Interpretation | { kind: 'error'; message: string } {
  const parsed = parsePrompt(text, { allowEmptyPrompt: true });
  if (!parsed.ok) return { kind: 'error', message: parsed.error.message };
  const p: PromptParams = parsed.value;
  if (p.prompt) return { kind: 'refine', phrase: p.prompt, mode: 'append', rule: 'text' };
  if (p.negativePrompt) return { kind: 'refine', phrase: p.negativePrompt, mode: 'negative', rule: 'remove' };
  const changes: ParamChanges = {
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
    ...(p.aspectRatio ? { aspectRatio: p.aspectRatio } : {}),
    ...(p.steps !== undefined ? { steps: p.steps } : {}),
    ...(p.guidance !== undefined ? { guidance: p.guidance } : {}),
  };
  if (Object.keys(changes).length === 0)
    return {
      kind: 'error',
      message: 'Those flags change nothing I can apply to an image; try --seed, --ar, --steps or --cfg.',
    };
  return { kind: 'params', changes };
}

/** Splits a leading grid-cell selector off a reply. */
function splitCell(text: string): { cell?: number; rest: string } {
  const numbered = /^(?:#|u|v|cell |image |number |no\.? ?)?([1-4])(?:\s*[:,.)]\s*|\s+|$)(.*)$/i.exec(text);
  if (
    numbered &&
    (/^[#uv]/i.test(text) ||
      /^[1-4]\s*[:,.)]/.test(text) ||
      numbered[2] === '' ||
      /^(cell|image|number|no)/i.test(text))
  ) {
    return { cell: Number(numbered[1]), rest: numbered[2]!.trim() };
  }
  const named =
    /^(?:the )?(top left|top right|bottom left|bottom right)(?: one| image)?(?:\s*[:,]\s*|$)(.*)$/i.exec(
      text,
    );
  if (named) return { cell: CELL_WORDS[named[1]!.toLowerCase()]!, rest: named[2]!.trim() };
  return { rest: text };
}

/** Interprets a reply. */
export function interpretReply(text: string): ReplyMeaning {
  const trimmed = text.replace(/<@!?\w+>|@flowbot/gi, '').trim();
  const { cell, rest } = splitCell(trimmed);
  const base = cell === undefined ? {} : { cell };
  if (rest === '')
    return {
      ...base,
      meaning:
        cell === undefined
          ? { kind: 'error', message: 'Reply with what to change, for example "make it night" or "upscale".' }
          : { kind: 'upscale', scale: 2 },
    };
  for (const rule of RULES) {
    const match = rule.pattern.exec(rest);
    if (match) return { ...base, meaning: rule.build(match) };
  }
  return { ...base, meaning: { kind: 'refine', phrase: clean(rest), mode: 'append', rule: 'text' } };
}
