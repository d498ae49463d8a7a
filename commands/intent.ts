/**
 * The first reading of a reply: questions (recognised before anything is stripped), the politeness
 * and framing that never reach the model, and the exact pixel edits. The rule table in `grammar.ts`
 * does the rest.
 */
import type { ExactEdit } from '../src/pipeline/edits.js';

/** What a question asks about. */
export type QuestionTopic =
  | 'seed'
  | 'model'
  | 'prompt'
  | 'negative'
  | 'steps'
  | 'guidance'
  | 'size'
  | 'author'
  | 'lineage'
  | 'help'
  | 'other';

/** Questions, recognised before anything is stripped: [topic, pattern]. */
export const QUESTIONS: readonly [QuestionTopic, RegExp][] = [
  [
    'help',
    /\b(what can (i|you) (say|do|ask)|what do you understand|how do (i|you) (use|edit|talk)|what are the commands)\b/i,
  ],
  ['negative', /\b(negative prompt|what did (i|you) (exclude|remove)|what'?s excluded)\b/i],
  [
    'prompt',
    /\b(what (was|is|were) the prompts?|which prompt|what did (i|you|they) (type|write|ask for)|what prompt)\b/i,
  ],
  [
    'seed',
    /\b(what|which)( is| was|'s)?( the)? seed\b|\bseed (is|was) (it|this|that)\b|\btell me the seed\b|\bwhat seed\b/i,
  ],
  ['model', /\b(which|what) (model|checkpoint)\b|\bmodel (is|was) (it|this|that)\b|\bmade with what\b/i],
  ['steps', /\bhow many steps\b|\b(what|which) (step count|steps)\b/i],
  ['guidance', /\b(what|which) (cfg|guidance)\b|\bhow much guidance\b/i],
  ['size', /\b(what|which) (size|resolution|dimensions)\b|\bhow (big|large) is (it|this)\b/i],
  [
    'author',
    /\bwho (made|created|asked for|generated|did|requested) (this|it|that)\b|\bwhose (image|picture) is\b/i,
  ],
  [
    'lineage',
    /\b(where did (this|it) come from|what('s| is) (its|the) (history|lineage)|how was (this|it) made)\b/i,
  ],
];

/** Leading politeness and framing, stripped (repeatedly) before the rules are tried. */
const FRAMING =
  /^(?:(?:hey|hi|ok(?:ay)?|so|well|and|also|now|oh|hmm+|flowbot)[,!]?\s+|(?:can|could|would|will) (?:you|u|we)(?: please| maybe| just)?\s+|please,?\s+|pls,?\s+|plz,?\s+|kindly\s+|just\s+|maybe\s+|try to\s+|i(?: would|'d| do)? (?:like|want|wish)(?: you| it)?(?: to(?: be)?)?\s+|i need(?: you)? to\s+|let'?s\s+|lets\s+)/i;
/** Trailing politeness, stripped. */
const TRAILING = /[\s,]*(?:please|pls|plz|thanks|thank you|thx|for me|if you can|if possible)?[\s.!?]*$/i;

/** A reply with its politeness and framing removed ("could you make it darker please?" → "make it darker"). */
export function stripFraming(text: string): string {
  let rest = text.trim();
  for (let i = 0; i < 6; i++) {
    const next = rest.replace(FRAMING, '');
    if (next === rest) break;
    rest = next;
  }
  rest = rest.replace(TRAILING, '').trim();
  // "I want it darker" leaves "it darker": the same as "make it darker".
  return rest.replace(/^it (?:to be |to look |looking )?/i, 'make it ').replace(/^me /i, '');
}

export const EXACT: readonly {
  readonly pattern: RegExp;
  readonly edit: (m: RegExpExecArray) => ExactEdit;
}[] = [
  {
    pattern:
      /^(?:a (?:bit|little) |slightly |much |way )?(darker|dimmer|darken(?: it)?|less bright|turn down the brightness|lower the brightness)$/i,
    edit: () => ({ op: 'brightness', factor: 0.75 }),
  },
  {
    pattern:
      /^(?:a (?:bit|little) |slightly |much |way )?(brighter|lighter|brighten(?: it)?(?: up)?|more light|turn up the brightness|raise the brightness)$/i,
    edit: () => ({ op: 'brightness', factor: 1.3 }),
  },
  {
    pattern:
      /^(?:a (?:bit|little) |slightly |much )?(?:more (?:saturated|colou?rful|vivid|vibrant)|saturate(?: it)?|punchier|boost the colou?rs)$/i,
    edit: () => ({ op: 'saturation', factor: 1.5 }),
  },
  {
    pattern:
      /^(?:a (?:bit|little) |slightly |much )?(?:less (?:saturated|colou?rful|vivid|vibrant)|desaturate(?: it)?|muted|more muted|tone down the colou?rs)$/i,
    edit: () => ({ op: 'saturation', factor: 0.55 }),
  },
  {
    pattern:
      /^(?:in |to )?(?:black and white|black & white|b&w|b\/w|grayscale|greyscale|monochrome|gr[ae]y)$/i,
    edit: () => ({ op: 'grayscale' }),
  },
  { pattern: /^(?:in |to )?(?:sepia|sepia tone(?:d)?)$/i, edit: () => ({ op: 'sepia' }) },
  {
    pattern: /^(?:a (?:bit|little) |slightly )?(?:warmer|warm(?: it)? up|more warm)$/i,
    edit: () => ({ op: 'temperature', amount: 0.12 }),
  },
  {
    pattern: /^(?:a (?:bit|little) |slightly )?(?:cooler|colder|cool(?: it)? down)$/i,
    edit: () => ({ op: 'temperature', amount: -0.12 }),
  },
  {
    pattern: /^(?:a (?:bit|little) |slightly )?(?:sharper|sharpen(?: it)?|crisper|more crisp)$/i,
    edit: () => ({ op: 'sharpen' }),
  },
  {
    pattern: /^(?:a (?:bit|little) |slightly )?(?:blurrier|blurry|blur(?: it)?|more blurry|less sharp)$/i,
    edit: () => ({ op: 'blur' }),
  },
  {
    pattern: /^(?:mirror(?: it| image)?|flip(?: it)? (?:horizontally|left to right|sideways)|flip it|flip)$/i,
    edit: () => ({ op: 'mirror' }),
  },
  {
    pattern: /^(?:flip(?: it)? (?:vertically|upside down)|upside down|turn it upside down)$/i,
    edit: () => ({ op: 'flip' }),
  },
  {
    pattern:
      /^rotate(?: it)?(?: by)?(?: (90|180|270)(?: degrees|°)?)?(?: (left|right|clockwise|counter-?clockwise|anti-?clockwise))?$/i,
    edit: (m) => {
      const degrees = Number(m[1] ?? 90);
      const left = /left|counter|anti/i.test(m[2] ?? '');
      const turned = left ? (360 - degrees) % 360 : degrees;
      return { op: 'rotate', degrees: (turned === 0 ? 180 : turned) as 90 | 180 | 270 };
    },
  },
  {
    pattern: /^crop(?: it)?(?: (?:to|as|into))?(?: an?)? (\d{1,2}):(\d{1,2})$/i,
    edit: (m) => ({ op: 'crop', aspect: { width: Number(m[1]), height: Number(m[2]) } }),
  },
  {
    pattern: /^crop(?: it)?(?: (?:to|as|into))?(?: an?)? square$|^square crop$/i,
    edit: () => ({ op: 'crop', aspect: { width: 1, height: 1 } }),
  },
];
