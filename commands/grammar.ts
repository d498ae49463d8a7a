/**
 * The reply grammar: how a reply to a result is understood. Intent first: politeness and framing
 * ("can you", "please", "I want") are stripped, questions are recognised, then one table of rules is
 * tried in order and the first that matches decides: a question, a prompt edit (substitution,
 * attribute, weight, add, remove), an exact image edit, a region or background edit, a variation, a
 * reroll, an upscale, zoom/pan, undo, or a parameter change. A short descriptive phrase refines the
 * prompt; anything else that no rule reads is proposed back rather than guessed silently.
 * A reply to a grid may start by naming a cell: "#2", "2:", "bottom left:", "U3".
 */
import type { Outpaint } from '../src/pipeline/canvas.js';
import type { ExactEdit } from '../src/pipeline/edits.js';
import { type PromptParams, parsePrompt } from '../src/prompt/params.js';
import { EXACT, QUESTIONS, type QuestionTopic, stripFraming } from './intent.js';

/** Grid cell names (1-based, row-major like U1–U4). */
const CELL_WORDS: Record<string, number> = {
  'top left': 1,
  'top right': 2,
  'bottom left': 3,
  'bottom right': 4,
};

export type { QuestionTopic } from './intent.js';
export { stripFraming } from './intent.js';

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
  | { readonly kind: 'redo' }
  | { readonly kind: 'same_mask'; readonly prompt: string }
  | { readonly kind: 'question'; readonly topic: QuestionTopic }
  | { readonly kind: 'substitute'; readonly from: string; readonly to: string }
  | { readonly kind: 'attribute'; readonly subject: string; readonly attribute: string }
  | { readonly kind: 'weight'; readonly term: string; readonly factor: number }
  | { readonly kind: 'exact'; readonly edit: ExactEdit }
  | { readonly kind: 'background'; readonly prompt: string }
  | { readonly kind: 'zoom'; readonly what: string; readonly outpaint?: Outpaint }
  | { readonly kind: 'confirm' }
  | { readonly kind: 'unclear'; readonly proposal: Interpretation; readonly text: string };

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
  {
    name: 'confirm',
    pattern: /^(yes|yep|yeah|yup|ok|okay|sure|do it|go ahead|sounds good|please do|that's right|correct)$/i,
    build: () => ({ kind: 'confirm' }),
  },
  {
    name: 'undo',
    pattern: /^(undo|back|go back|revert|previous|undo that|take it back)$/i,
    build: () => ({ kind: 'undo' }),
  },
  {
    name: 'redo',
    pattern: /^(redo|forward|go forward|redo that|undo the undo)$/i,
    build: () => ({ kind: 'redo' }),
  },
  {
    name: 'reroll',
    pattern: /^(again|reroll|re-roll|retry|one more|another one|try again)$/i,
    build: () => ({ kind: 'reroll' }),
  },
  {
    name: 'upscale',
    pattern: /^(?:upscale|upres|enlarge|bigger|make it bigger|hd|hi-?res)(?: it)?(?: ?(?:x|by )?([24])x?)?$/i,
    build: (m) => ({ kind: 'upscale', scale: m[1] === '4' ? 4 : 2 }),
  },
  {
    name: 'zoom out',
    pattern: /^(?:zoom out|show more(?: of it)?|pull back)(?: by)?(?: (1\.5|2)\s*[x×]?)?$/i,
    build: (m) => ({
      kind: 'zoom',
      what: 'zoom out',
      outpaint: { kind: 'zoom', factor: m[1] === '2' ? 2 : 1.5 },
    }),
  },
  {
    name: 'pan',
    pattern:
      /^(?:pan|extend(?: it| the image| the canvas)?(?: to)?(?: the)?|move (?:the (?:camera|view)|it)|show more (?:to the |on the )?)\s*(left|right|up|down|top|bottom)(?: side| edge)?$/i,
    build: (m) => {
      const word = m[1]!.toLowerCase();
      const direction =
        word === 'top' ? 'up' : word === 'bottom' ? 'down' : (word as 'left' | 'right' | 'up' | 'down');
      return { kind: 'zoom', what: `pan ${direction}`, outpaint: { kind: 'pan', direction } };
    },
  },
  {
    name: 'widen',
    pattern: /^(?:make it )?(wider|taller)$/i,
    build: (m) => ({
      kind: 'zoom',
      what: `make it ${m[1]!.toLowerCase()}`,
      outpaint: { kind: 'widen', axis: m[1]!.toLowerCase() === 'wider' ? 'horizontal' : 'vertical' },
    }),
  },
  {
    name: 'zoom (other)',
    pattern: /^(zoom in(?: .*)?|zoom out .*|outpaint(?: .*)?)$/i,
    build: (m) => ({ kind: 'zoom', what: m[1]!.toLowerCase() }),
  },
  ...EXACT.map(
    (e): Rule => ({ name: 'exact', pattern: e.pattern, build: (m) => ({ kind: 'exact', edit: e.edit(m) }) }),
  ),
  {
    name: 'variations',
    pattern:
      /^(?:(?:give me|show me|make|generate|do|i want|let me see) )?(?:some |a few |a couple of )?(?:(subtle|strong) )?(?:more (?:like (?:this|that|it)|of (?:these|this|those))|variations?(?: of (?:this|it))?|vary(?: it)?|similar ones?|something similar|alternatives?|other versions?|a few more)(?: \((subtle|strong)\))?$/i,
    build: (m) => {
      const strength = (m[1] ?? m[2])?.toLowerCase() as 'subtle' | 'strong' | undefined;
      return strength ? { kind: 'variations', strength } : { kind: 'variations' };
    },
  },
  {
    name: 'background',
    pattern:
      /^(?:(?:make|change|turn|paint|set|replace|switch) )?(?:the )?(?:background|backdrop|bg)(?:[:,]| (?:to|into|with|as|is|be|for|of)[:,]?)? (?:an? |the )?(.+)$/i,
    build: (m) => ({ kind: 'background', prompt: backgroundPrompt(clean(m[1]!)) }),
  },
  {
    name: 'background (adjective)',
    pattern:
      /^(?!(?:remove|drop|delete|lose|get rid of|without|no|blur|keep)\b)(?:(?:give it|use|put it on|on) )?(?:an? |the )?(.+?) (?:background|backdrop)$/i,
    build: (m) => ({ kind: 'background', prompt: backgroundPrompt(clean(m[1]!)) }),
  },
  {
    name: 'behind it',
    pattern:
      /^(?:put |add |place )?(.+?) behind (?:it|him|her|them)$|^behind (?:it|him|her|them)[:,]?\s+(.+)$/i,
    build: (m) => ({ kind: 'background', prompt: clean(m[1] ?? m[2]!) }),
  },
  {
    name: 'substitute',
    pattern:
      /^(?:change|replace|swap|switch|turn|transform|exchange) (?!(?:it|this|them|him|her|everything|that) (?:into|to|with|for|by) )(?:the |his |her |its |their |that )?(.+?) (?:into|to|with|for|by) (?:an? |the |some )?(.+)$/i,
    build: (m) => ({ kind: 'substitute', from: clean(m[1]!), to: clean(m[2]!) }),
  },
  {
    name: 'instead',
    pattern: /^(?:an? |the )?(.+?) instead of (?:an? |the )?(.+)$/i,
    build: (m) => ({ kind: 'substitute', from: clean(m[2]!), to: clean(m[1]!) }),
  },
  {
    name: 'attribute',
    pattern: /^make (?:the|his|her|its|their) (.+?) (\S+)$/i,
    build: (m) => ({ kind: 'attribute', subject: clean(m[1]!), attribute: clean(m[2]!) }),
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
    name: 'fill region',
    pattern: /^(?:fill|repaint) (?:the )?(.+?) with (.+)$/i,
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
    pattern: /^(landscape|widescreen)$/i,
    build: () => ({ kind: 'params', changes: { widen: 'wider' } }),
  },
  {
    name: 'taller',
    pattern: /^(portrait)$/i,
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
    pattern:
      /^(?:make it look like|make it look|make it|make (?:this|them|him|her)|turn it into|change it to|now) (.+)$/i,
    build: (m) => ({ kind: 'refine', phrase: clean(m[1]!), mode: 'append', rule: 'make it' }),
  },
  {
    name: 'more/less',
    pattern:
      /^(much more|way more|a (?:bit|little) more|slightly more|more|much less|way less|a (?:bit|little) less|slightly less|less) (.+)$/i,
    build: (m) => ({ kind: 'weight', term: clean(m[2]!), factor: WEIGHTS[m[1]!.toLowerCase()] ?? 1.3 }),
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

/** Weight factors of "more X" / "less X". */
const WEIGHTS: Record<string, number> = {
  'much more': 1.5,
  'way more': 1.5,
  more: 1.3,
  'a bit more': 1.15,
  'a little more': 1.15,
  'slightly more': 1.15,
  less: 0.7,
  'a bit less': 0.85,
  'a little less': 0.85,
  'slightly less': 0.85,
  'much less': 0.5,
  'way less': 0.5,
};

/** "blue" → "a blue background"; "a beach" stays a scene. */
function backgroundPrompt(text: string): string {
  const words = text.split(/\s+/);
  return words.length <= 2 && !/^(an?|the|some)$/i.test(words[0]!) ? `a ${text} background` : text;
}

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

/** A reply without its mentions, split into the grid cell it names (if any) and the rest. */
export function replyBody(text: string): { cell?: number; rest: string } {
  return splitCell(text.replace(/<@!?\w+>|@flowbot/gi, '').trim());
}

/** Interprets a reply. */
export function interpretReply(text: string): ReplyMeaning {
  const { cell, rest } = replyBody(text);
  const base = cell === undefined ? {} : { cell };
  if (rest === '')
    return {
      ...base,
      meaning:
        cell === undefined
          ? { kind: 'error', message: 'Reply with what to change, for example "make it night" or "upscale".' }
          : { kind: 'upscale', scale: 2 },
    };
  const question = QUESTIONS.find(([, pattern]) => pattern.test(rest));
  if (question) return { ...base, meaning: { kind: 'question', topic: question[0] } };
  const framed = stripFraming(rest);
  if (framed === '') return { ...base, meaning: { kind: 'confirm' } };
  // "make it darker" is the exact edit "darker"; other "make it …" phrasings stay prompt edits.
  const inner = /^make it (.+)$/i.exec(framed)?.[1];
  const stripped = inner && EXACT.some((e) => e.pattern.test(inner)) ? inner : framed;
  for (const rule of RULES) {
    const match = rule.pattern.exec(stripped);
    if (match) return { ...base, meaning: rule.build(match) };
  }
  const refine: Interpretation = { kind: 'refine', phrase: clean(stripped), mode: 'append', rule: 'text' };
  // A question we can't answer, or an instruction with a verb no rule knows: propose, don't guess.
  if (/\?\s*$/.test(rest)) return { ...base, meaning: { kind: 'question', topic: 'other' } };
  if (UNKNOWN_VERB.test(stripped))
    return { ...base, meaning: { kind: 'unclear', proposal: refine, text: stripped } };
  return { ...base, meaning: refine };
}

/** Instructions that start with a verb no rule reads: flowbot proposes its reading instead. */
const UNKNOWN_VERB =
  /^(fix|improve|adjust|tweak|change|do|set|use|keep|try|show|give|let|get|go|put|move|edit|update|modify|enhance|clean|correct|redo|finish|work|help|can|could|would|should|is|are|was|does|did|why|how|what|when|where|who)\b/i;
