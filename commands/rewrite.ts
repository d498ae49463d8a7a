/**
 * Editing a prompt the way a person would: substituting one of its words, putting an attribute on its
 * subject, or moving a word's weight with the `(word:1.3)` syntax the text encoders understand. Pure
 * functions, so the reply corpus can check every rewrite.
 */
import { closest } from '../src/prompt/suggest.js';
import type { Interpretation } from './grammar.js';

/** Words too common to stand for what a prompt is about. */
const STOP = new Set([
  'a',
  'an',
  'the',
  'of',
  'in',
  'on',
  'at',
  'with',
  'and',
  'or',
  'to',
  'by',
  'for',
  'from',
  'is',
  'it',
]);

/** Colour words: "make the apple green" replaces the apple's colour rather than stacking another. */
const COLOURS = new Set(
  'red orange yellow green blue purple violet pink brown black white gray grey golden silver teal cyan magenta beige'.split(
    ' ',
  ),
);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Where `term` stands in the prompt as whole words (also as a plural), or undefined. */
function find(prompt: string, term: string): RegExpExecArray | undefined {
  // The term as written or as a plural; a plural term also finds its singular ("apples" → "apple").
  const word = term.trim();
  const forms = [word, word.replace(/(?<=[^s])s$/i, ''), word.replace(/(?<=[^s])es$/i, '')];
  for (const form of new Set(forms)) {
    const words = escapeRegExp(form).replace(/\s+/g, '\\s+');
    const match = new RegExp(`\\b${words}(?:e?s)?\\b`, 'i').exec(prompt);
    if (match) return match;
  }
  return undefined;
}

/** The prompt's content words, for "did you mean". */
export function contentWords(prompt: string): string[] {
  return [...new Set(prompt.toLowerCase().match(/[\p{L}\p{N}'-]+/gu) ?? [])].filter((w) => !STOP.has(w));
}

/** The prompt word closest to `term` (a typo or a near miss), if any. */
export function nearestWord(prompt: string, term: string): string | undefined {
  const words = contentWords(prompt);
  return closest(term, words) ?? words.find((w) => w.startsWith(term.slice(0, 3).toLowerCase()));
}

/** A prompt edit, or why it could not be made. */
export type Rewrite =
  | { readonly ok: true; readonly prompt: string }
  | { readonly ok: false; readonly missing: string };

/** "change the apple to a pear": "a red apple" → "a red pear" (articles in `to` dropped where one stands). */
export function substitute(prompt: string, from: string, to: string): Rewrite {
  const at = find(prompt, from);
  if (!at) return { ok: false, missing: from };
  const before = prompt.slice(0, at.index);
  const replacement = to.replace(/^(an?|the|some)\s+/i, '');
  // The article before the noun phrase agrees with what now follows it, and goes for a plural.
  const article = /\b(an?)\s+((?:[\p{L}-]+\s+){0,2})$/iu.exec(before);
  let fixed = before;
  if (article) {
    const next = article[2] || replacement;
    const plural = /[^s]s$/i.test(replacement) && !article[2];
    fixed =
      before.slice(0, article.index) + (plural ? '' : /^[aeiou]/i.test(next) ? 'an ' : 'a ') + article[2];
  }
  return { ok: true, prompt: `${fixed}${replacement}${prompt.slice(at.index + at[0].length)}` };
}

/** "make the apple green": "a red apple" → "a green apple" (a colour replaces a colour). */
export function applyAttribute(prompt: string, subject: string, attribute: string): Rewrite {
  const at = find(prompt, subject);
  if (!at) return { ok: false, missing: subject };
  let before = prompt.slice(0, at.index);
  const previous = /([\p{L}-]+)\s+$/u.exec(before);
  if (previous && COLOURS.has(previous[1]!.toLowerCase()) && COLOURS.has(attribute.toLowerCase())) {
    before = before.slice(0, previous.index);
  }
  // The attribute opens the noun phrase, after its article: "a red apple" + old → "an old red apple".
  const article = /\b(an?|the)\s+((?:[\p{L}-]+\s+){0,2})$/iu.exec(before);
  if (!article) return { ok: true, prompt: `${before}${attribute} ${prompt.slice(at.index)}` };
  const determiner = /^the$/i.test(article[1]!) ? 'the' : /^[aeiou]/i.test(attribute) ? 'an' : 'a';
  return {
    ok: true,
    prompt: `${before.slice(0, article.index)}${determiner} ${attribute} ${article[2]}${prompt.slice(at.index)}`,
  };
}

/** "more red" / "less red": `(red:1.3)` where the word stands, or undefined when it is not in the prompt. */
export function weighWord(prompt: string, term: string, factor: number): string | undefined {
  // Already weighted: the factors multiply.
  const weighted = new RegExp(`\\((${escapeRegExp(term.trim())}(?:e?s)?):([\\d.]+)\\)`, 'i').exec(prompt);
  if (weighted) {
    const combined = Math.round(Number(weighted[2]) * factor * 100) / 100;
    return `${prompt.slice(0, weighted.index)}(${weighted[1]}:${combined})${prompt.slice(weighted.index + weighted[0].length)}`;
  }
  const at = find(prompt, term);
  if (!at) return undefined;
  return `${prompt.slice(0, at.index)}(${at[0]}:${factor})${prompt.slice(at.index + at[0].length)}`;
}

/** How a reply changes the prompt and negative prompt, and how it was done. */
export type PromptChange =
  | { readonly ok: true; readonly prompt: string; readonly negativePrompt: string; readonly how: string }
  | { readonly ok: false; readonly missing: string };

/** What a prompt-editing reply makes of a prompt; undefined for replies that leave the prompt alone. */
export function rewritePrompt(
  prompt: string,
  negativePrompt: string,
  meaning: Interpretation,
): PromptChange | undefined {
  const negated = (term: string) => [negativePrompt, term].filter(Boolean).join(', ');
  switch (meaning.kind) {
    case 'refine':
      return meaning.mode === 'append'
        ? { ok: true, prompt: `${prompt}, ${meaning.phrase}`, negativePrompt, how: 'appended' }
        : { ok: true, prompt, negativePrompt: negated(meaning.phrase), how: 'negative prompt' };
    case 'substitute': {
      const edit = substitute(prompt, meaning.from, meaning.to);
      return edit.ok ? { ok: true, prompt: edit.prompt, negativePrompt, how: 'substituted' } : edit;
    }
    case 'attribute': {
      const edit = applyAttribute(prompt, meaning.subject, meaning.attribute);
      return edit.ok ? { ok: true, prompt: edit.prompt, negativePrompt, how: 'attribute' } : edit;
    }
    case 'weight': {
      const weighted = weighWord(prompt, meaning.term, meaning.factor);
      if (weighted) return { ok: true, prompt: weighted, negativePrompt, how: 'prompt weighting' };
      if (meaning.factor < 1)
        return { ok: true, prompt, negativePrompt: negated(meaning.term), how: 'negative term' };
      return {
        ok: true,
        prompt: `${prompt}, (${meaning.term}:${meaning.factor})`,
        negativePrompt,
        how: 'added with weight',
      };
    }
    default:
      return undefined;
  }
}
