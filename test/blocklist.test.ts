/**
 * The blocklist against the bypasses and the ReDoS of the hardening report (issue #20, items 4 and 5):
 * the matching function on each spelling, `settings admin blocklist add` refusing what it cannot run,
 * and the same attacks through the real playground server on loopback.
 */
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebAdapter } from '../adapters/web/server.js';
import {
  blocklistEntryProblem,
  blocklistRefusal,
  MAX_BLOCKLIST_ENTRIES,
  MAX_CHECKED_LENGTH,
} from '../commands/blocklist.js';
import { type Bot, createBot } from '../commands/index.js';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ErrorCode } from '../src/errors.js';
import { LinkSigner } from '../src/links.js';
import { ClipTokenizer } from '../src/pipeline/clip-bpe.js';
import { WordSet } from '../src/prompt/word-set.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const clip = ClipTokenizer.fromFiles(
  path.join(fixtures, 'clip/vocab.json'),
  path.join(fixtures, 'clip/merges.txt'),
);

/** The entries a prompt is refused for (empty when it is allowed). */
function blocked(prompt: string, entries: readonly string[]): unknown {
  return blocklistRefusal(prompt, entries)?.details.blocked ?? [];
}

describe('the blocklist checks the text the model reads', () => {
  it('blocks HTML-entity spellings, which CLIP tokenizes to the same ids as the word', () => {
    for (const [spelling, plain] of [
      ['a &#103;ore scene', 'a gore scene'],
      ['&amp;#103;ore', 'gore'],
      ['g&#x6f;re', 'gore'],
    ] as const) {
      expect(clip.encode(spelling)).toEqual(clip.encode(plain));
      expect(blocked(spelling, ['gore']), spelling).toEqual(['gore']);
    }
    // CLIP unescapes twice, not more: a third level reaches the model as the entity's text.
    expect(blocked('&amp;amp;#103;ore', ['gore'])).toEqual([]);
  });

  it('blocks full-width letters and words split by invisible characters', () => {
    const spellings = [
      'ｇｏｒｅ',
      'a ＧＯＲＥ scene',
      'g\u200Bore', // zero-width space
      'g\u200Core', // zero-width non-joiner
      'g\u200Dore', // zero-width joiner
      'g\u2060ore', // word joiner
      '\uFEFFgore', // byte-order mark
      'g\u00ADore', // soft hyphen
      'gore\uFE0F', // variation selector
      'g&#8203;ore', // a zero-width space written as an entity
    ];
    for (const spelling of spellings) expect(blocked(spelling, ['gore']), spelling).toEqual(['gore']);
    expect(blocked('(gore:1.4) scene', ['gore'])).toEqual(['gore']);
  });

  it('matches entries that start or end with a symbol, and keeps boundaries where they are letters', () => {
    expect(blocked('a 🍆 on a plate', ['🍆'])).toEqual(['🍆']);
    expect(blocked('a🍆', ['🍆'])).toEqual(['🍆']);
    expect(blocked('a book about c++', ['c++'])).toEqual(['c++']);
    expect(blocked('c++, rendered', ['c++'])).toEqual(['c++']);
    expect(blocked('abc++', ['c++'])).toEqual([]);
    expect(blocked('a gorey hat', ['gore'])).toEqual([]);
    expect(blocked('lagore', ['gore'])).toEqual([]);
    expect(blocked('gore, rendered', ['gore'])).toEqual(['gore']);
    expect(blocked('a ❤️ sign', ['❤'])).toEqual(['❤']);
  });

  it('finds a /…/y entry anywhere, and ignores case in regexes', () => {
    expect(blocked('a photo, nsfw', ['/nsfw/y'])).toEqual(['/nsfw/y']);
    expect(blocked('a photo, n5fw', ['/N[S5]FW/'])).toEqual(['/N[S5]FW/']);
    expect(blocked('a photo, ｎｓｆｗ', ['/nsfw/'])).toEqual(['/nsfw/']);
    expect(blocked('un été chaud', ['/\\u00e9t\\u00e9/'])).toEqual(['/\\u00e9t\\u00e9/']);
    expect(blocked('a calm photo', ['/nsfw/y', 'gore'])).toEqual([]);
  });

  it('refuses, without matching, a prompt that NFKC spells out beyond the checked length', () => {
    const stuffed = '\uFDFA'.repeat(200); // 200 characters, 3,600 once spelled out
    const refusal = blocklistRefusal(stuffed, ['gore']);
    expect(refusal?.code).toBe(ErrorCode.PromptInvalid);
    expect(refusal?.message).toMatch(/^That prompt is too long to check against this server's blocklist/);
    expect(refusal?.details).toMatchObject({ max: MAX_CHECKED_LENGTH });
    expect(blocklistRefusal(stuffed, [])).toBeUndefined();
  });
});

/** The whole-word rule checked the slow way: every occurrence of every word, one at a time. */
function wholeWordsSlowly(words: readonly string[], text: string): number[] {
  const letterOrDigit = (char: string | undefined) => char !== undefined && /[\p{L}\p{N}]/u.test(char);
  return words.flatMap((word, index) => {
    const first = [...word][0];
    const last = [...word].at(-1);
    for (let at = text.indexOf(word); word !== '' && at !== -1; at = text.indexOf(word, at + 1)) {
      const before = [...text.slice(0, at)].at(-1);
      const after = [...text.slice(at + word.length)][0];
      const clearBefore = !letterOrDigit(first) || !letterOrDigit(before);
      const clearAfter = !letterOrDigit(last) || !letterOrDigit(after);
      if (clearBefore && clearAfter) return [index];
    }
    return [];
  });
}

describe('WordSet, the one-pass search for the word entries', () => {
  it('finds the same whole words as a search per word', () => {
    const piece = fc.constantFrom('a', 'b', 'ab', ' ', '+', '🍆', 'é', '1', '-');
    const word = fc.array(piece, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.array(word, { maxLength: 8 }), fc.array(piece, { maxLength: 30 }), (words, parts) => {
        const text = parts.join('');
        expect(new WordSet(words).find(text)).toEqual(wholeWordsSlowly(words, text));
      }),
      { numRuns: 500 },
    );
  });
});

describe('a linear-time regex engine', () => {
  it('answers /(a+)+$/ against 30 and 3,000 "a"s and "!" at once instead of backtracking', () => {
    for (const length of [30, MAX_CHECKED_LENGTH - 1]) {
      const start = performance.now();
      expect(blocked(`${'a'.repeat(length)}!`, ['/(a+)+$/'])).toEqual([]);
      // Backtracking takes seconds at 30 and triples every two more; RE2 takes milliseconds.
      expect(performance.now() - start).toBeLessThan(2_000);
    }
    expect(blocked('a'.repeat(MAX_CHECKED_LENGTH), ['/(a+)+$/'])).toEqual(['/(a+)+$/']);
  });

  it('checks a 10,000-character text in one pass with many entries', () => {
    const entries = [
      '/(a+)+$/',
      '/(x+x+)+y/',
      '/(.*a){12}/',
      ...Array.from({ length: 300 }, (_, i) => `word${i}`),
    ];
    const start = performance.now();
    expect(blocked(`${'a'.repeat(1_000)}${' x'.repeat(1_000)}!`, entries)).toEqual([]);
    expect(blocked('word299', entries)).toEqual(['word299']);
    expect(performance.now() - start).toBeLessThan(2_000);
  });
});

describe('adding entries', () => {
  it('refuses flags it cannot honour and names the supported ones', () => {
    expect(blocklistEntryProblem('/nsfw/x', [])).toBe(
      '"/nsfw/x" can\'t go on the blocklist: the flag "x" is not supported. Supported flags: i, m, s, g, u, y ' +
        '(entries always ignore case and match anywhere in the prompt).',
    );
    expect(blocklistEntryProblem('/nsfw/ii', [])).toMatch(/the flag "i" is repeated/);
    expect(blocklistEntryProblem('/nsfw/gimsuy', [])).toBeUndefined();
  });

  it('refuses patterns RE2 cannot run, empty words, long entries and a list past its bounds', () => {
    expect(blocklistEntryProblem('/(?=gore)/', [])).toMatch(
      /it is not a pattern I can run \(invalid or unsupported Perl syntax: `\(\?=`\)\. Blocklist patterns use RE2 syntax/,
    );
    expect(blocklistEntryProblem('/(a)\\1/', [])).toMatch(/not a pattern I can run/);
    expect(blocklistEntryProblem('/x*/', [])).toMatch(/it matches every prompt/);
    expect(blocklistEntryProblem('/\\u00e9t\\u00e9/', [])).toBeUndefined();
    expect(blocklistEntryProblem('\u200B\u200D', [])).toMatch(/nothing is left of it/);
    expect(blocklistEntryProblem('x'.repeat(201), [])).toMatch(/longer than 200 characters/);
    const full = Array.from({ length: MAX_BLOCKLIST_ENTRIES }, (_, i) => `word${i}`);
    expect(blocklistEntryProblem('one-more', full)).toMatch(/holds at most 500 entries/);
    // Five patterns of RE2 program size 204 each: the fifth goes past the 1,000 budget.
    const heavy = Array.from({ length: 5 }, (_, i) => `/[a-z]{0,100}x${i}/`);
    expect(blocklistEntryProblem(heavy[4]!, heavy.slice(0, 4))).toMatch(
      /with the other \/regex\/ entries it is too complex to check quickly \(RE2 program size 816 \+ 204, at most 1000\)/,
    );
    expect(blocklistEntryProblem('/n[s5]fw/', [])).toBeUndefined();
    expect(blocklistEntryProblem('🍆', [])).toBeUndefined();
  });
});

describe('through the playground', () => {
  const t = tempDir();
  let core: Core;
  let bot: Bot;
  let web: WebAdapter;
  let origin: string;

  beforeAll(async () => {
    const config = loadConfig({
      env: {
        DATA_DIR: t.dir,
        MODELS_DIR: FIXTURE_MODELS,
        MODEL: 'flow-tiny',
        UPSCALER: 'sr-x4-tiny',
        LOG_LEVEL: 'error',
      },
    });
    core = createCore(config, { threads: 1, previewEvery: 0 });
    bot = createBot(core);
    web = new WebAdapter({
      bot,
      signer: new LinkSigner('test-secret-0123456789'),
      host: '127.0.0.1',
      port: 0,
    });
    origin = await web.listen();
    core.queue.recover();
  });

  afterAll(async () => {
    await web.close();
    await core.close();
    t.cleanup();
  });

  /** Sends a message as the playground page does and returns the texts of the replies. */
  async function send(text: string): Promise<string[]> {
    const response = await fetch(`${origin}/api/message`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: new URL(origin).origin },
      body: JSON.stringify({ text }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { replies: { text?: string }[] };
    return body.replies.map((reply) => reply.text ?? '');
  }

  it('refuses entity, full-width and zero-width spellings of a blocked word, and queues nothing', async () => {
    await send('/settings admin blocklist clear');
    expect(await send('/settings admin blocklist add gore')).toEqual(['Blocklist: gore.']);
    for (const prompt of ['a &#103;ore scene', 'g&#x6f;re', 'ｇｏｒｅ', 'g\u200Bore']) {
      expect(await send(prompt), prompt).toEqual([
        "Sorry, I can't make that: part of your prompt is on this server's blocklist. Please rephrase it.",
      ]);
    }
    expect(core.store.countJobsSince('local', 0)).toBe(0);
  });

  it('refuses /nsfw/x at add time and applies /…/y anywhere in the prompt', async () => {
    await send('/settings admin blocklist clear');
    expect((await send('/settings admin blocklist add /nsfw/x'))[0]).toMatch(
      /^"\/nsfw\/x" can't go on the blocklist: the flag "x" is not supported/,
    );
    expect(await send('/settings admin blocklist add /nsfw/y')).toEqual(['Blocklist: /nsfw/y.']);
    expect((await send('a photo, nsfw'))[0]).toMatch(/^Sorry, I can't make that/);
    expect(core.store.countJobsSince('local', 0)).toBe(0);
  });

  it('names entries saved before these checks that are not in effect, and keeps the others working', async () => {
    core.store.setSetting('global', 'admin', 'blocklist', ['/nsfw/x', '/(?=gore)/']);
    expect((await send('/settings admin blocklist add gore'))[0]!.split('\n')).toEqual([
      'Blocklist: /nsfw/x, /(?=gore)/, gore.',
      '"/nsfw/x" is not in effect: the flag "x" is not supported. Supported flags: i, m, s, g, u, y (entries always ignore case and match anywhere in the prompt). Remove it or rewrite it.',
      '"/(?=gore)/" is not in effect: it is not a pattern I can run (invalid or unsupported Perl syntax: `(?=`). Blocklist patterns use RE2 syntax: no lookarounds or backreferences. Remove it or rewrite it.',
    ]);
    expect((await send('a &#103;ore scene'))[0]).toMatch(/^Sorry, I can't make that/);
    expect(core.store.countJobsSince('local', 0)).toBe(0);
  });
});
