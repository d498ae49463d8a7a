import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePrompt } from '../src/prompt/params.js';
import { countPermutations, expandPermutations } from '../src/prompt/permutations.js';

function expanded(text: string, max = 100): string[] {
  const result = expandPermutations(text, max);
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

describe('permutation prompts', () => {
  it('expands one job per option, several groups multiplying, the first varying slowest', () => {
    expect(expanded('{red, blue} apple --n 1')).toEqual(['red apple --n 1', 'blue apple --n 1']);
    expect(expanded('a {red, green} bird in the {jungle, desert}')).toEqual([
      'a red bird in the jungle',
      'a red bird in the desert',
      'a green bird in the jungle',
      'a green bird in the desert',
    ]);
    expect(expanded('a cat --ar {16:9, 1:1}')).toEqual(['a cat --ar 16:9', 'a cat --ar 1:1']);
  });

  it('nests, drops the spaces an empty option leaves, and keeps a prompt without groups as it is', () => {
    expect(expanded('a {big {red, blue}, small} car')).toEqual([
      'a big red car',
      'a big blue car',
      'a small car',
    ]);
    expect(expanded('a {, very} big dog')).toEqual(['a big dog', 'a very big dog']);
    expect(expanded('  spaced   out  ')).toEqual(['  spaced   out  ']);
  });

  it('reads \\{, \\} and \\, as literal characters', () => {
    expect(expanded('a \\{curly\\} brace')).toEqual(['a {curly} brace']);
    expect(expanded('{salt\\, pepper, sugar} on toast')).toEqual(['salt, pepper on toast', 'sugar on toast']);
  });

  it('counts before expanding and refuses over the limit with the count', () => {
    expect(countPermutations('{a,b,c} {d,e,f,g} cat')).toEqual({ ok: true, value: 12 });
    const refused = expandPermutations('{a,b,c} {d,e,f,g} cat', 8);
    expect(refused.ok).toBe(false);
    if (!refused.ok)
      expect(refused.error.message).toBe(
        'That prompt expands to 12 prompts; at most 8 are allowed here at once.',
      );
    // A prompt that would make billions of jobs is refused without building them.
    const huge = expandPermutations('{a,b,c,d,e,f,g,h,i,j} '.repeat(12), 8);
    expect(huge.ok || huge.error.message).toMatch(/expands to over 1,000,000 prompts/);
  });

  it('says what is wrong with unbalanced braces', () => {
    for (const text of ['a {red, blue apple', 'a red} apple', '{{a}']) {
      const result = expandPermutations(text, 8);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.message).toMatch(/has no (closing|opening)|write \\\{/);
    }
  });

  it('never throws and never makes more than the limit, whatever the input (fuzz)', () => {
    const alphabet = fc.constantFrom('{', '}', ',', '\\', 'a', ' ', 'b', '--n', '1');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }), fc.integer({ min: 1, max: 16 }), (parts, max) => {
        const result = expandPermutations(parts.join(''), max);
        if (result.ok) {
          expect(result.value.length).toBeLessThanOrEqual(max);
          for (const prompt of result.value)
            expect(parsePrompt(prompt, { allowEmptyPrompt: true })).toBeDefined();
        }
      }),
      { numRuns: 500, seed: 27 },
    );
  });
});
