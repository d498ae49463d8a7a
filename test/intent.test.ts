/**
 * Intent by meaning, measured on the held-out 20% of the labelled corpus (phrasings the matcher never
 * sees): the accuracy of the rule table alone, of the sentence encoder alone, and of both as flowbot
 * reads replies, with the share of replies that end in a proposal; and, typed with no message chosen
 * (the playground's box), the share of edits applied to the latest image and of prompts that start a
 * new one. Also: no phrasing whose reading the rules pin down is lost once the encoder is there.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interpretReply, replyBody } from '../commands/grammar.js';
import { IntentMatcher, understandReply } from '../commands/meaning.js';
import { sideOf } from '../commands/opposites.js';
import { HELD_OUT_SHARE, intentOf, loadCorpus, splitCorpus } from '../commands/phrasings.js';
import { readingOf } from '../commands/slots.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { SentenceEncoder } from '../src/pipeline/sentence-encoder.js';

const corpus = loadCorpus();
const { matching, heldOut } = splitCorpus(corpus.phrasings);
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 2 });
const matcher = new IntentMatcher(
  new SentenceEncoder(backend, path.resolve('models', 'minilm-l6')),
  matching,
);
afterAll(() => backend.dispose());

interface Scores {
  rules: number;
  embeddings: number;
  both: number;
  proposals: number;
}
let scores: Scores;

beforeAll(async () => {
  let rules = 0;
  let embeddings = 0;
  let both = 0;
  let proposals = 0;
  for (const { text, intent } of heldOut) {
    const ruled = interpretReply(text).meaning;
    if (ruled.kind !== 'error' && intentOf(ruled) === intent) rules++;
    const body = replyBody(text).rest;
    if (body && (await matcher.match(body))?.intent === intent) embeddings++;
    const understood = await understandReply(text, matcher);
    if (understood.intent === intent) both++;
    if (understood.by === 'proposal') proposals++;
  }
  const share = (n: number) => Math.round((n / heldOut.length) * 1000) / 1000;
  scores = {
    rules: share(rules),
    embeddings: share(embeddings),
    both: share(both),
    proposals: share(proposals),
  };
  console.log(`held-out intent accuracy over ${heldOut.length} phrasings`, scores);
}, 240_000);

describe('the labelled corpus', () => {
  it('has at least 600 phrasings, at least 5 for each intent', () => {
    expect(corpus.phrasings.length).toBeGreaterThanOrEqual(600);
    const counts = new Map<string, number>();
    for (const p of corpus.phrasings) counts.set(p.intent, (counts.get(p.intent) ?? 0) + 1);
    expect(Math.min(...counts.values())).toBeGreaterThanOrEqual(5);
  });

  it('holds out 20% of each intent, the same on every run, never used for matching', () => {
    const again = splitCorpus([...corpus.phrasings].reverse());
    expect(new Set(again.heldOut.map((p) => p.text))).toEqual(new Set(heldOut.map((p) => p.text)));
    const matched = new Set(matching.map((p) => p.text));
    expect(heldOut.some((p) => matched.has(p.text))).toBe(false);
    for (const intent of new Set(corpus.phrasings.map((p) => p.intent))) {
      const all = corpus.phrasings.filter((p) => p.intent === intent).length;
      expect(heldOut.filter((p) => p.intent === intent).length).toBe(Math.round(all * HELD_OUT_SHARE));
    }
    // The matcher the bot builds uses the matching split only.
    expect(splitCorpus(loadCorpus().phrasings).matching.length).toBe(matching.length);
  });
});

describe('intent on held-out phrasings', () => {
  it('reads at least 90% of them right with the rules and the encoder together', () => {
    expect(scores.both).toBeGreaterThanOrEqual(0.9);
  });

  it('does better with the encoder than with the rules alone, and proposes for few', () => {
    expect(scores.both).toBeGreaterThan(scores.rules);
    expect(scores.proposals).toBeLessThan(0.1);
  });
});

describe("held-out phrasings typed with no message chosen (the playground's box)", () => {
  /** Share of `phrasings` that start a new image, read with the matcher (or, undefined, the rules alone). */
  async function newImages(phrasings: typeof heldOut, withMatcher: IntentMatcher | undefined) {
    let fresh = 0;
    for (const { text } of phrasings)
      if ((await understandReply(text, withMatcher, 'unaimed')).newPrompt) fresh++;
    return Math.round((fresh / phrasings.length) * 1000) / 1000;
  }
  const DESCRIPTIONS = new Set(['new prompt', 'make', 'style', 'unclear']);
  const edits = heldOut.filter((p) => !DESCRIPTIONS.has(p.intent));
  const prompts = heldOut.filter((p) => p.intent === 'new prompt');

  it('applies at least 90% of the edits to the latest image, and starts a new image for every prompt', async () => {
    const shares = {
      editsAsEdits: 1 - (await newImages(edits, matcher)),
      editsAsEditsByRulesAlone: 1 - (await newImages(edits, undefined)),
      promptsAsPrompts: await newImages(prompts, matcher),
    };
    console.log(`unaimed: ${edits.length} held-out edits, ${prompts.length} held-out prompts`, shares);
    expect(shares.editsAsEdits).toBeGreaterThanOrEqual(0.9);
    expect(shares.editsAsEdits).toBeGreaterThan(shares.editsAsEditsByRulesAlone);
    expect(shares.promptsAsPrompts).toBe(1);
  });
});

describe("today's corpus with the encoder", () => {
  const pinned = corpus.phrasings.flatMap((p) => (p.rules ? [[p.text, p.intent, p.rules] as const] : []));

  // Exact edits and questions read exactly as before; every other phrasing does the same thing (a
  // description may now be credited to the rule that describes it, e.g. "make it" rather than "text").
  it.each(pinned)('%j (%s) reads as before', async (text, intent, rules) => {
    const understood = await understandReply(text, matcher);
    expect(understood.cell).toBe(rules.cell);
    const exact = intent.startsWith('exact:') || intent.startsWith('question:');
    const { rule: _rule, ...action } = rules.meaning;
    expect(understood.meaning).toMatchObject(exact ? rules.meaning : action);
  });
});

describe('slots are parsed from the words of a recognised intent', () => {
  it.each([
    ['upscale', 'make it four times bigger', { kind: 'upscale', scale: 4 }],
    ['upscale', 'blow it up', { kind: 'upscale', scale: 2 }],
    ['zoom out', 'pull back twice as far', { kind: 'zoom', outpaint: { kind: 'zoom', factor: 2 } }],
    ['pan', 'show what is above it', { kind: 'zoom', outpaint: { kind: 'pan', direction: 'up' } }],
    ['widen', 'give it more height', { kind: 'zoom', outpaint: { kind: 'widen', axis: 'vertical' } }],
    [
      'exact:rotate',
      'a quarter turn counterclockwise',
      { kind: 'exact', edit: { op: 'rotate', degrees: 270 } },
    ],
    [
      'exact:crop',
      'trim it to 9:16',
      { kind: 'exact', edit: { op: 'crop', aspect: { width: 9, height: 16 } } },
    ],
    ['seed', 'go with seed 77', { kind: 'params', changes: { seed: 77 } }],
    ['aspect', 'portrait orientation', { kind: 'params', changes: { widen: 'taller' } }],
    ['variations', 'a few wild ones', { kind: 'variations', strength: 'strong' }],
    ['remove', 'the leaf has to go', { kind: 'refine', phrase: 'leaf', mode: 'negative' }],
    ['add', 'throw in a butterfly', { kind: 'refine', phrase: 'a butterfly', mode: 'append' }],
    ['weight', 'tone down the red', { kind: 'weight', term: 'red', factor: 0.7 }],
    [
      'background',
      'swap the background for a city skyline',
      { kind: 'background', prompt: 'a city skyline background' },
    ],
    ['substitute', 'put a lemon where the apple is', { kind: 'substitute', from: 'apple', to: 'lemon' }],
    ['attribute', 'paint the apple gold', { kind: 'attribute', subject: 'apple', attribute: 'gold' }],
    [
      'region',
      'draw a boat in the bottom half',
      { kind: 'inpaint', region: 'bottom half', prompt: 'a boat' },
    ],
  ] as const)('%s: %j', (intent, words, reading) => {
    expect(readingOf(intent, words)).toMatchObject(reading);
  });

  it.each([
    ['pan', 'move the view a bit'],
    ['seed', 'a different seed'],
    ['exact:crop', 'crop it'],
  ])('%s: %j has no slot to act on', (intent, words) => {
    expect(readingOf(intent, words)).toBeUndefined();
  });

  it.each([
    ['exact:brighter', 'it is too bright', 'exact:darker'],
    ['exact:darker', "I can barely see, it's so dark", 'exact:brighter'],
    ['undo', 'bring back what I undid', 'redo'],
    ['exact:mirror', 'flip it upside down', 'exact:flip'],
  ])('opposites: %s read in %j is %s', (intent, words, side) => {
    expect(sideOf(intent, words)).toBe(side);
  });
});
