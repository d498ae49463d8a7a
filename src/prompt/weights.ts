/**
 * Prompt weighting, in the `(words:1.3)` syntax image tools share: the words' token embeddings are
 * scaled by the factor (then the sequence's mean is restored), so "more red" can turn up a word
 * without rewriting the prompt. Anything that is not that exact form stays literal text.
 */

/** A run of prompt text and its weight. */
export interface WeightedSegment {
  readonly text: string;
  readonly weight: number;
}

const WEIGHTED = /\(([^():]+):\s*(\d+(?:\.\d+)?)\s*\)/g;

/** The prompt as weighted segments (weight 1 outside any `(words:w)`; w limited to 0–3). */
export function parseWeights(prompt: string): WeightedSegment[] {
  const segments: WeightedSegment[] = [];
  let last = 0;
  for (const match of prompt.matchAll(WEIGHTED)) {
    if (match.index! > last) segments.push({ text: prompt.slice(last, match.index), weight: 1 });
    segments.push({ text: match[1]!, weight: Math.min(3, Math.max(0, Number(match[2]))) });
    last = match.index! + match[0].length;
  }
  if (last < prompt.length) segments.push({ text: prompt.slice(last), weight: 1 });
  return segments.filter((s) => s.text.trim() !== '');
}

/** The prompt without weighting syntax, for encoders that do not weight (T5 here). */
export function plainPrompt(prompt: string): string {
  return prompt.replace(WEIGHTED, '$1');
}

/** True when the prompt weights anything. */
export function hasWeights(prompt: string): boolean {
  return parseWeights(prompt).some((s) => s.weight !== 1);
}
