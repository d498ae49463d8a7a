import { describe, expect, it } from 'vitest';
import { interpretReply, stripFraming } from '../commands/grammar.js';
import { loadCorpus } from '../commands/phrasings.js';
import { rewritePrompt } from '../commands/rewrite.js';

/** Every phrasing of the labelled corpus whose exact rule reading is pinned down. */
const corpus = loadCorpus();
const PINNED = corpus.phrasings.flatMap((p) => (p.rules ? [[p.text, p.rules] as const] : []));

describe('reply grammar corpus', () => {
  it(`pins down the rule reading of at least 200 phrasings (${PINNED.length})`, () => {
    expect(PINNED.length).toBeGreaterThanOrEqual(200);
  });

  // Each phrasing must be read as its intent and, for prompt edits, lead to the given prompt from the
  // corpus prompt ("a red apple", negative "worms"); `-x` means "x" joins the negative prompt and
  // `!x` that "x" is not in the prompt.
  it.each(PINNED)('%j', (reply, { cell, meaning: expected, prompt }) => {
    const result = interpretReply(reply);
    expect(result.cell).toBe(cell);
    expect(result.meaning).toMatchObject(expected);
    if (prompt === undefined || result.meaning.kind === 'error') return;
    const change = rewritePrompt(corpus.prompt, corpus.negative, result.meaning);
    if (prompt.startsWith('!')) expect(change).toEqual({ ok: false, missing: prompt.slice(1) });
    else if (prompt.startsWith('-'))
      expect(change).toMatchObject({
        ok: true,
        prompt: corpus.prompt,
        negativePrompt: `${corpus.negative}, ${prompt.slice(1)}`,
      });
    else expect(change).toMatchObject({ ok: true, prompt, negativePrompt: corpus.negative });
  });

  it.each([
    ['--sed 4', 'error'],
    ['', 'error'],
  ])('%j is an error', (reply, kind) => {
    expect(interpretReply(reply).meaning.kind).toBe(kind);
  });
});

describe('politeness and framing', () => {
  it.each([
    ['could you make it darker please?', 'make it darker'],
    ['can you make the background blue', 'make the background blue'],
    ["I'd like it brighter", 'brighter'],
    ['please just add a moon, thanks!', 'add a moon'],
    ["let's try to make it night", 'make it night'],
    ['hey, could we maybe add stars', 'add stars'],
  ])('%j → %j', (text, stripped) => {
    expect(stripFraming(text)).toBe(stripped);
  });
});
