/**
 * From an intent the meaning matcher recognised to a full reading: the slots (colours, objects,
 * regions, directions, factors, numbers) are still parsed from the words. Each reading is written as
 * the canonical phrasing the rule table reads ("upscale x4", "pan left", "remove the leaf") and read by
 * it, so a reply understood by meaning does exactly what the same request in the table's words does.
 */
import { type Interpretation, interpretReply } from './grammar.js';
import { QUESTIONS, type QuestionTopic } from './intent.js';
import type { Intent } from './phrasings.js';

/** The rule table's reading of a canonical phrasing (never an error for the phrasings built here). */
function canonical(phrasing: string): Interpretation | undefined {
  const { meaning } = interpretReply(phrasing);
  return meaning.kind === 'error' || meaning.kind === 'unclear' ? undefined : meaning;
}

const has = (text: string, pattern: RegExp) => pattern.test(text);

/** "2", "two", "double", "twice" → 2; "4", "four", "quadruple" → 4. */
function factor(text: string): 2 | 4 | undefined {
  if (has(text, /\b(4|four|quadruple|4x|x4)\b|\b4 times\b/)) return 4;
  if (has(text, /\b(2|two|double|twice|2x|x2)\b/)) return 2;
  return undefined;
}

function direction(text: string): 'left' | 'right' | 'up' | 'down' | undefined {
  if (has(text, /\bleft\b/)) return 'left';
  if (has(text, /\bright\b/)) return 'right';
  if (has(text, /\b(up|upwards?|top|above|sky)\b/)) return 'up';
  if (has(text, /\b(down|downwards?|bottom|below|ground)\b/)) return 'down';
  return undefined;
}

function aspect(text: string): string | undefined {
  const ratio = /\b(\d{1,2})\s*[:x×]\s*(\d{1,2})\b/.exec(text);
  return ratio ? `${ratio[1]}:${ratio[2]}` : undefined;
}

const number = (text: string) => /\b(\d{1,10})\b/.exec(text)?.[1];

/** Readings that need no slot, or only a factor, direction, number or ratio. */
const SIMPLE: Record<string, (text: string) => string | undefined> = {
  variations: (t) =>
    has(t, /\b(subtle|slight|slightly|small|minor|gentle|little)\b/)
      ? 'subtle variations'
      : has(t, /\b(strong|wild|big|radical|drastic|crazy|very different)\b/)
        ? 'strong variations'
        : 'variations',
  reroll: () => 'reroll',
  undo: () => 'undo',
  redo: () => 'redo',
  confirm: () => 'yes',
  upscale: (t) => (factor(t) === 4 ? 'upscale x4' : 'upscale'),
  'zoom out': (t) => (factor(t) === 2 ? 'zoom out 2x' : 'zoom out'),
  'zoom in': () => 'zoom in',
  pan: (t) => {
    const towards = direction(t);
    return towards ? `pan ${towards}` : undefined;
  },
  widen: (t) => (has(t, /\b(tall|taller|height|higher|vertical|vertically)\b/) ? 'taller' : 'wider'),
  stronger: () => 'stronger',
  subtler: () => 'subtler',
  seed: (t) => (number(t) ? `seed ${number(t)}` : undefined),
  steps: (t) => {
    const steps = /\b(\d{1,3})\b/.exec(t)?.[1];
    return steps ? `${steps} steps` : undefined;
  },
  guidance: (t) => {
    const value = /\b(\d{1,2}(?:\.\d+)?)\b/.exec(t)?.[1];
    return value ? `--cfg ${value}` : undefined;
  },
  aspect: (t) => {
    const ratio = aspect(t);
    if (ratio) return `--ar ${ratio}`;
    if (has(t, /\b(portrait|tall|vertical)\b/)) return 'portrait';
    return has(t, /\b(landscape|widescreen|wide|horizontal)\b/) ? 'landscape' : undefined;
  },
  'exact:darker': () => 'darker',
  'exact:brighter': () => 'brighter',
  'exact:saturate': () => 'more saturated',
  'exact:desaturate': () => 'less saturated',
  'exact:grayscale': () => 'grayscale',
  'exact:sepia': () => 'sepia',
  'exact:warmer': () => 'warmer',
  'exact:cooler': () => 'cooler',
  'exact:sharpen': () => 'sharper',
  'exact:blur': () => 'blurrier',
  'exact:mirror': () => 'mirror',
  'exact:flip': () => 'flip vertically',
  'exact:rotate': (t) => {
    const degrees = has(t, /\b(180|half|around)\b/) ? 180 : has(t, /\b270\b/) ? 270 : 90;
    const left = has(t, /\b(left|counter-?clockwise|anti-?clockwise)\b/);
    return `rotate ${degrees}${left ? ' left' : ''}`;
  },
  'exact:crop': (t) => {
    const ratio = aspect(t);
    if (ratio) return `crop to ${ratio}`;
    return has(t, /\b(square|avatar|1:1)\b/) ? 'crop to a square' : undefined;
  },
};

/** Every question topic: those the rules recognise, and the questions they cannot answer. */
const TOPICS: readonly QuestionTopic[] = [...QUESTIONS.map(([topic]) => topic), 'other'];

/** Intents whose reading only needs such a slot: the matcher may overrule an open rule with them. */
export const SIMPLE_INTENTS: ReadonlySet<Intent> = new Set([
  ...Object.keys(SIMPLE),
  ...TOPICS.map((topic) => `question:${topic}`),
]);

const ARTICLE = /^(?:the|that|those|these|its|his|her|their|any|all(?: the)?)\s+/;
const FILLER = /(?:[\s,]+(?:please|too|as well|also|anymore|instead|for me))+$/;

/** The words left once a leading cue is taken off (and trailing politeness), or undefined. */
function after(text: string, lead: RegExp, dropArticle = false): string | undefined {
  const match = lead.exec(text);
  if (!match) return undefined;
  let rest = text.slice(match[0].length).replace(FILLER, '').trim();
  if (dropArticle) rest = rest.replace(ARTICLE, '');
  return rest === '' ? undefined : rest;
}

const ADD =
  /^(?:add|include|insert|put|place|draw|paint|stick|throw in|give (?:it|him|her|them)|can it have|could it have|it needs|there should be|i want|we need|and|with|plus)\s+(?:in\s+)?/;
const REMOVE =
  /^(?:remove|delete|erase|drop|lose|cut|hide|eliminate|ditch|take (?:out|away)|get rid of|i don'?t want|no more|without|no)\s+/;
const MAKE =
  /^(?:make (?:it|this|everything|the scene)(?: look| feel)?(?: like)?|turn it into|give it|it should be|i want it|now|let it be|can it be)\s+|^/;
const STYLE = /^(?:make it|render it|draw it|do it|paint it|redo it|turn it into|show it)\s+|^/;
const BACKGROUND =
  /^(?:(?:put|place|set|show|move) (?:it|this|them|him|her) (?:on|in|into|against|in front of)|in front of|against|on)\s+(?:an?\s+)?|^(?:(?:i want|give it|use|with) )?(?:an? )?/;

/** Readings that take a phrase from the words. */
const PHRASED: Record<string, (text: string) => string | undefined> = {
  add: (t) => {
    const phrase = after(t, ADD);
    return phrase ? `add ${phrase}` : undefined;
  },
  remove: (t) => {
    const gone = /^(?:the )?(.+?) (?:has|have|needs?) to go$/.exec(t)?.[1];
    const phrase =
      gone ?? after(t, REMOVE, true)?.replace(/\s+(?:out|from (?:it|the image|the picture))$/, '');
    return phrase ? `remove ${phrase}` : undefined;
  },
  make: (t) => {
    const phrase = after(t, MAKE);
    return phrase ? `make it ${phrase}` : undefined;
  },
  style: (t) => {
    const phrase = after(t, STYLE);
    if (!phrase) return undefined;
    return /^(?:in|as|like)\b/.test(phrase) || / style$/.test(phrase) ? phrase : `in ${phrase}`;
  },
  background: (t) => {
    // "swap the background for a skyline", "the background should be green": what follows the word.
    const named =
      /\b(?:background|backdrop|bg|scenery|setting)(?: (?:to|for|with|into|as|is|should be|be|of))?\s+(?:an? |the )?(.+)$/.exec(
        t,
      )?.[1];
    const phrase =
      named ?? after(t, BACKGROUND)?.replace(/\s+(?:background|backdrop|behind (?:it|them))$/, '');
    return phrase ? `background: ${phrase.replace(FILLER, '')}` : undefined;
  },
  'same mask': (t) => {
    const phrase = after(
      t,
      /^(?:(?:in |use )?the )?same (?:mask|region|area|place|spot)(?: again)?\s*(?:[:,]|with)?\s*|^/,
    );
    return `same mask: ${phrase ?? ''}`.trim();
  },
  weight: (t) => {
    const less = has(t, /\b(less|fewer|reduce|lower|decrease|not so much|too much|tone down|dial down)\b/);
    const more = has(t, /\b(more|extra|increase|boost|emphasi[sz]e|emphasis|amp up|crank up)\b/);
    if (less === more) return undefined;
    const amount = has(t, /\b(way|much|a lot)\b/)
      ? 'much '
      : has(t, /\b(a (?:bit|little)|slightly)\b/)
        ? 'a bit '
        : '';
    const term = t
      .replace(
        /\b(way|much|a lot|a bit|a little|slightly|less|fewer|reduce|lower|decrease|not so|too much|tone down|dial down|tone it down|more|extra|increase|boost|emphasi[sz]e|emphasis|amp up|crank up|put|on|of|the|please|so)\b/g,
        ' ',
      )
      .replace(/[,.!]/g, ' ')
      .trim()
      .replace(/\s+/g, ' ');
    return term ? `${amount}${less ? 'less' : 'more'} ${term}` : undefined;
  },
  substitute: (t) => {
    const swap =
      /^(?:swap|switch|trade|exchange|replace)(?: out)? (?:the )?(.+?)(?: out)? (?:for|with|by) (?:an? |the |some )?(.+)$/.exec(
        t,
      ) ?? /^(?:change|turn|make) (?:the )?(.+?) (?:into|to|in to) (?:an? |the |some )?(.+)$/.exec(t);
    if (swap) return `change the ${swap[1]} to ${swap[2]}`;
    const made = /^make (?:the )?(.+?) (?:an?|some) (.+)$/.exec(t);
    if (made) return `change the ${made[1]} to ${made[2]}`;
    const instead = /^instead of (?:an? |the )?(.+?),? (?:an? |the |some )?(.+)$/.exec(t);
    if (instead) return `change the ${instead[1]} to ${instead[2]}`;
    const rather =
      /^(?:use|put|draw|give me|show) (?:an? |the |some )?(.+?) (?:rather than|in place of|where) (?:an? |the )?(.+?)(?: is| was)?$/.exec(
        t,
      );
    if (rather) return `change the ${rather[2]} to ${rather[1]}`;
    const should = /^(?:the |an? )?(.+?) should be (?:an? |the |some )?(.+)$/.exec(t);
    return should ? `change the ${should[1]} to ${should[2]}` : undefined;
  },
  attribute: (t) => {
    const made =
      /^(?:make|turn|paint|colou?r|dye|render) (?:the|his|her|its|their) (.+?) (?:look )?(\S+)$/.exec(t);
    const should = /^(?:the|his|her|its|their) (.+?) should (?:be|look) (\S+)$/.exec(t);
    const found = made ?? should;
    return found ? `make the ${found[1]} ${found[2]}` : undefined;
  },
  region: (t) => {
    const placed =
      /^(?:add|put|draw|paint|place) (.+?) (?:in|on|at|into|across) (?:the )?((?:(?:top|bottom|upper|lower|left|right|centre|center|middle|corner|half|third|side|edge|border)\s*)+)$/.exec(
        t,
      );
    if (placed) return `in the ${placed[2]!.trim()}: ${placed[1]}`;
    const should = /^(?:the )?(.+?) should (?:be|have|show) (.+)$/.exec(t);
    return should ? `in the ${should[1]}: ${should[2]}` : undefined;
  },
};

/** The full reading of a recognised intent, or undefined when its slots are not in the words. */
export function readingOf(intent: Intent, text: string): Interpretation | undefined {
  const words = text.toLowerCase().trim();
  const topic = TOPICS.find((t) => intent === `question:${t}`);
  if (topic) return { kind: 'question', topic };
  if (intent === 'new prompt' || intent === 'unclear')
    return { kind: 'refine', phrase: text.trim(), mode: 'append', rule: 'text' };
  const phrasing = (SIMPLE[intent] ?? PHRASED[intent])?.(words);
  return phrasing === undefined ? undefined : canonical(phrasing);
}
