/**
 * The blocklist's work per prompt (issue #20, item 5). Reports the backtracking blow-up of `/(a+)+$/`
 * in JavaScript's own RegExp (what the blocklist used before), the same entry through the blocklist
 * (RE2), a typical list on a typical prompt, and the worst this bench could build within the bounds:
 * 500 entries, the regexes' whole program budget and a prompt folded to the longest checked length.
 */
import {
  blocklistEntryProblem,
  blocklistRefusal,
  MAX_BLOCKLIST_ENTRIES,
  MAX_CHECKED_LENGTH,
  REGEX_PROGRAM_BUDGET,
} from '../../commands/blocklist.js';
import type { BenchResult } from './queue.js';

/** Milliseconds for one call: the best of a first call and `runs` more. */
function timeMs(run: () => unknown, runs = 5): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i <= runs; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

const round = (ms: number) => Number(ms.toFixed(3));

/** A deterministic pseudo-random text of lower-case letters and spaces. */
function letters(length: number, seed = 1): string {
  let state = seed;
  let out = '';
  for (let i = 0; i < length; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const pick = state % 27;
    out += pick === 26 ? ' ' : String.fromCharCode(97 + pick);
  }
  return out;
}

/** Regexes that make the automaton build a new state at nearly every character, up to the budget. */
function heavyRegexes(): string[] {
  const entries: string[] = [];
  for (let i = 0; ; i++) {
    const entry = `/[a-z]{0,40}${String.fromCharCode(97 + (i % 26))}[^q]{0,40}z${i}/`;
    if (blocklistEntryProblem(entry, entries) !== undefined) return entries;
    entries.push(entry);
  }
}

/** Runs the blocklist benchmark. */
export async function benchBlocklist(): Promise<BenchResult> {
  const figures: Record<string, number | string> = {};
  for (const length of [20, 22, 24]) {
    const text = `${'a'.repeat(length)}!`;
    figures[`RegExp /(a+)+$/ ${length}a! ms`] = round(timeMs(() => /(a+)+$/i.test(text), 1));
  }
  for (const length of [30, MAX_CHECKED_LENGTH - 1]) {
    const text = `${'a'.repeat(length)}!`;
    figures[`RE2 /(a+)+$/ ${length}a! ms`] = round(timeMs(() => blocklistRefusal(text, ['/(a+)+$/'])));
  }

  const typical = ['gore', 'nsfw', '🍆', 'c++', '/n[s5]fw/', '/b[o0]{2,}bs?/'];
  for (let i = 0; i < 44; i++) typical.push(`word${i}`);
  const prompt = 'a lighthouse on a cliff at dusk, oil painting, dramatic light, &amp; seagulls';
  figures['typical 50 entries, 80-char prompt ms'] = round(timeMs(() => blocklistRefusal(prompt, typical)));

  const regexes = heavyRegexes();
  const words = Array.from({ length: MAX_BLOCKLIST_ENTRIES - regexes.length }, (_, i) =>
    'a'.repeat(1 + (i % 199)),
  );
  const worst = [...regexes, ...words];
  figures['worst list'] =
    `${regexes.length} regexes (RE2 program budget ${REGEX_PROGRAM_BUDGET}) + ${words.length} nested words`;
  const compileStart = performance.now();
  blocklistRefusal('warm up', worst);
  figures['worst list compile ms'] = round(performance.now() - compileStart);
  // A new text each time: the automaton cannot reuse states it built for an earlier prompt.
  const fresh = Array.from({ length: 10 }, (_, i) => letters(MAX_CHECKED_LENGTH, i + 2));
  const times = fresh.map((text) => timeMs(() => blocklistRefusal(text, worst), 0)).sort((a, b) => a - b);
  figures['worst list, 3,000 fresh letters: median ms'] = round(times[times.length >> 1]!);
  figures['worst list, 3,000 fresh letters: max ms'] = round(times[times.length - 1]!);
  const allA = 'a'.repeat(MAX_CHECKED_LENGTH - 1);
  figures["worst list, 3,000 a's (words' worst) ms"] = round(timeMs(() => blocklistRefusal(allA, worst), 3));
  return { name: 'blocklist (work per prompt)', figures };
}
