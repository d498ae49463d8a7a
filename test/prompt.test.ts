import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { formatPrompt, type PromptParams, parsePrompt, SCHEDULER_NAMES } from '../src/prompt/params.js';

function parsed(input: string, options = {}): PromptParams {
  const result = parsePrompt(input, options);
  if (!result.ok) throw new Error(`expected ok, got: ${result.error.message}`);
  return result.value;
}

function failure(input: string, options = {}) {
  const result = parsePrompt(input, options);
  if (result.ok) throw new Error(`expected an error for ${JSON.stringify(input)}`);
  return result.error;
}

describe('parsePrompt', () => {
  it('reads the prompt and every flag', () => {
    expect(
      parsed(
        'a lighthouse at dusk --ar 16:9 --seed 7 --no people, text --steps 20 --cfg 4.5 --n 2 --strength 0.6 --model Flowbot-Emoji --scheduler ddim --style 3d',
      ),
    ).toEqual({
      prompt: 'a lighthouse at dusk',
      aspectRatio: { width: 16, height: 9 },
      seed: 7,
      negativePrompt: 'people, text',
      steps: 20,
      guidance: 4.5,
      n: 2,
      strength: 0.6,
      model: 'flowbot-emoji',
      scheduler: 'ddim',
      style: '3d',
    });
  });

  it('accepts --size and long dashes from phones', () => {
    expect(parsed('a cat —size 512x768 –seed 3')).toEqual({
      prompt: 'a cat',
      size: { width: 512, height: 768 },
      seed: 3,
    });
  });

  it('merges repeated --no and puts words after a value back into the prompt', () => {
    expect(parsed('a dog --no cats --seed 5 wearing a hat --no birds')).toEqual({
      prompt: 'a dog wearing a hat',
      seed: 5,
      negativePrompt: 'cats, birds',
    });
  });

  it('suggests the closest flag for a typo', () => {
    const error = failure('a cat --sed 4');
    expect(error.code).toBe(ErrorCode.FlagUnknown);
    expect(error.message).toContain('Unknown flag --sed. Did you mean --seed?');
    expect(failure('x --stpes 3').message).toContain('Did you mean --steps?');
    expect(failure('x --zzzzzz 3').message).not.toContain('Did you mean');
  });

  it('gives the allowed range for out-of-range values', () => {
    expect(failure('a cat --steps 500').message).toBe(
      'Expected an integer 1–150 for --steps but received "500".',
    );
    expect(failure('a cat --steps 30', { limits: { maxSteps: 25 } }).message).toContain('1–25');
    expect(failure('a cat --cfg 99').message).toContain('a number 0–30');
    expect(failure('a cat --n 9').message).toContain('an integer 1–4');
    expect(failure('a cat --seed -1').message).toContain('an integer 0–4294967295');
    expect(failure('a cat --strength 0').message).toContain('0.01–1');
    expect(failure('a cat --ar 10:1').message).toContain('between 1:4 and 4:1');
    expect(failure('a cat --size 500x500').message).toContain('multiples of 8');
    expect(failure('a cat --ar').message).toContain('received nothing');
  });

  it('refuses conflicting, repeated and unknown values', () => {
    expect(failure('a cat --ar 1:1 --size 64x64').code).toBe(ErrorCode.FlagConflict);
    expect(failure('a cat --seed 1 --seed 2').code).toBe(ErrorCode.FlagRepeated);
    expect(failure('a cat --scheduler eular').message).toContain('Did you mean "euler"?');
    expect(failure('a cat --model fluxx', { models: ['flux', 'sd15'] }).message).toContain(
      'Did you mean "flux"?',
    );
  });

  it('refuses an empty prompt unless allowed', () => {
    expect(failure('   ').code).toBe(ErrorCode.PromptEmpty);
    expect(failure('--seed 4').code).toBe(ErrorCode.PromptEmpty);
    expect(parsed('--seed 4', { allowEmptyPrompt: true })).toEqual({ prompt: '', seed: 4 });
  });

  it('never throws, whatever the input (fuzz)', () => {
    const flagish = fc.constantFrom(
      '--ar',
      '--seed',
      '--no',
      '--steps',
      '--cfg',
      '--n',
      '--size',
      '--strength',
      '--model',
      '--scheduler',
      '--style',
      '--',
      '—',
      '--x',
      ':',
      'x',
      '16:9',
      '1e9',
      '-0',
      'NaN',
      '512x512',
      '\u0000',
      '🦊',
    );
    const input = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc
        .array(fc.oneof(flagish, fc.string({ maxLength: 8 })), { maxLength: 30 })
        .map((words) => words.join(' ')),
    );
    fc.assert(
      fc.property(input, (text) => {
        const result = parsePrompt(text);
        if (result.ok) {
          expect(typeof result.value.prompt).toBe('string');
        } else {
          expect(result.error.message.length).toBeGreaterThan(0);
          expect(Object.values(ErrorCode)).toContain(result.error.code);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips formatted parameters (property)', () => {
    const word = fc.stringMatching(/^[a-z]{1,8}$/);
    const params = fc.record(
      {
        prompt: fc.array(word, { minLength: 1, maxLength: 6 }).map((w) => w.join(' ')),
        seed: fc.integer({ min: 0, max: 4_294_967_295 }),
        steps: fc.integer({ min: 1, max: 150 }),
        guidance: fc.integer({ min: 0, max: 300 }).map((g) => g / 10),
        n: fc.integer({ min: 1, max: 4 }),
        scheduler: fc.constantFrom(...SCHEDULER_NAMES),
        negativePrompt: fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')),
        aspectRatio: fc.record({
          width: fc.integer({ min: 1, max: 4 }),
          height: fc.integer({ min: 1, max: 4 }),
        }),
      },
      { requiredKeys: ['prompt'] },
    );
    fc.assert(
      fc.property(params, (p) => {
        expect(parsed(formatPrompt(p))).toEqual(p);
      }),
      { numRuns: 500 },
    );
  });
});
