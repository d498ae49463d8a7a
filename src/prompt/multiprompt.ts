/**
 * Multi-prompts, as Midjourney writes them: `hot dog::1.5 animal::-0.5` is two prompts whose
 * conditionings are mixed by weight (1.5 : −0.5, divided by their sum), so a negative weight subtracts a
 * concept. A part's weight follows its `::`; a part without one weighs 1. Parts of weight 0 are left
 * out, so `cat::1 dog::0` is exactly `cat`. This sits beside `(word:1.3)` weighting (`weights.ts`),
 * which scales words inside one prompt.
 */
import { ErrorCode, UserError } from '../errors.js';
import { err, ok, type Result } from '../result.js';

/** One prompt of a multi-prompt and its weight. */
export interface PromptPart {
  readonly text: string;
  readonly weight: number;
}

/** A weight may be at most this far from zero. */
const MAX_WEIGHT = 10;
const SEPARATOR = /::[ \t]*(-?(?:\d{1,6}(?:\.\d{0,6})?|\.\d{1,6}))?/g;

/** True when the prompt is a multi-prompt (has `::`). */
export function isMultiPrompt(prompt: string): boolean {
  return prompt.includes('::');
}

/**
 * The parts of a prompt with their weights (one part of weight 1 without `::`), parts of weight 0 left
 * out. Refused when a weight is out of range or the weights do not add up to more than 0.
 */
export function parseMultiPrompt(prompt: string): Result<PromptPart[], UserError> {
  if (!isMultiPrompt(prompt)) return ok([{ text: prompt, weight: 1 }]);
  const parts: PromptPart[] = [];
  let start = 0;
  for (const match of prompt.matchAll(SEPARATOR)) {
    const weight = match[1] === undefined ? 1 : Number(match[1]);
    if (Math.abs(weight) > MAX_WEIGHT) {
      return err(
        new UserError(
          ErrorCode.PromptInvalid,
          `Multi-prompt weights go from −${MAX_WEIGHT} to ${MAX_WEIGHT}; "::${match[1]}" is outside that.`,
        ),
      );
    }
    parts.push({ text: prompt.slice(start, match.index).trim(), weight });
    start = match.index! + match[0].length;
  }
  parts.push({ text: prompt.slice(start).trim(), weight: 1 });
  const kept = parts.filter((part) => part.text !== '' && part.weight !== 0);
  const total = kept.reduce((sum, part) => sum + part.weight, 0);
  if (kept.length === 0 || total <= 0) {
    return err(
      new UserError(
        ErrorCode.PromptInvalid,
        `The weights of a multi-prompt must add up to more than 0 (these add up to ${+total.toFixed(6)}), e.g. "hot dog::1.5 animal::-0.5".`,
      ),
    );
  }
  return ok(kept);
}

/** Writes parts back as a multi-prompt. */
export function formatMultiPrompt(parts: readonly PromptPart[]): string {
  return parts.map((part) => `${part.text}::${part.weight}`).join(' ');
}
