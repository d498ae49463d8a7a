/**
 * Replies understood by meaning. The rule table reads first and keeps what it recognises exactly; when
 * no rule matches with confidence, the reply's sentence vector is compared with the labelled phrasings
 * (nearest neighbours per intent, with a margin over the runner-up), the slots are parsed from the
 * words, and below the margin flowbot proposes its best reading for a "yes". Without an encoder (the
 * folder missing or broken) the rules work alone.
 */
import { createLogger } from '../src/log.js';
import type { SentenceEncoder } from '../src/pipeline/sentence-encoder.js';
import { withoutFlags } from '../src/prompt/params.js';
import {
  type Interpretation,
  interpretReply,
  type ReplyMeaning,
  replyBody,
  stripFraming,
} from './grammar.js';
import { familyOf, sideOf } from './opposites.js';
import { type Intent, intentOf, loadCorpus, type Phrasing, splitCorpus } from './phrasings.js';
import { readingOf, SIMPLE_INTENTS } from './slots.js';

const log = createLogger('meaning');

/** How many nearest phrasings of each intent are averaged into its score. */
const NEIGHBOURS = 3;
/** A match is confident when its score is at least this… */
export const MIN_SCORE = 0.45;
/** …and leads the runner-up intent by at least this. */
export const MIN_MARGIN = 0.04;
/** Phrasings embedded per run while the index is built. */
const BATCH = 32;

/** The best intent for a text, by meaning. */
export interface Match {
  readonly intent: Intent;
  /** Mean cosine of its nearest phrasings. */
  readonly score: number;
  /** Its lead over the next intent. */
  readonly margin: number;
  readonly runnerUp: Intent;
  /** Every intent with its score, best first. */
  readonly ranked: readonly { readonly intent: Intent; readonly score: number }[];
}

interface Index {
  readonly intents: Intent[];
  readonly vectors: Float32Array[];
}

/** Nearest-neighbour intent matching over the corpus phrasings matching may use. */
export class IntentMatcher {
  private index: Promise<Index | undefined> | undefined;

  constructor(
    private readonly encoder: SentenceEncoder | undefined,
    private readonly phrasings: readonly Phrasing[] = splitCorpus(loadCorpus().phrasings).matching,
  ) {}

  /** The best intent for `text`, or undefined when there is no encoder to read it with. */
  async match(text: string): Promise<Match | undefined> {
    const index = await this.load();
    if (!index || !this.encoder) return undefined;
    const [vector] = await this.encoder.embed([text]);
    return best(index, vector!, text);
  }

  /** Embeds the corpus once, on the first reply that needs it. */
  private load(): Promise<Index | undefined> {
    this.index ??= this.build().catch((error: unknown) => {
      log.warn('the sentence encoder could not be loaded; replies are read by the rule table alone', {
        error,
      });
      return undefined;
    });
    return this.index;
  }

  private async build(): Promise<Index | undefined> {
    if (!this.encoder) return undefined;
    const bodies = this.phrasings
      .map((p) => ({ intent: p.intent, text: replyBody(p.text).rest }))
      .filter((p) => p.text !== '')
      .sort((a, b) => a.text.length - b.text.length);
    const vectors: Float32Array[] = [];
    for (let i = 0; i < bodies.length; i += BATCH)
      vectors.push(...(await this.encoder.embed(bodies.slice(i, i + BATCH).map((b) => b.text))));
    return { intents: bodies.map((b) => b.intent), vectors };
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/**
 * Each intent scored by the mean cosine of its nearest phrasings. The margin is the lead over the best
 * intent of another family: opposites ("darker", "brighter") are told apart by the words instead.
 */
function best(index: Index, vector: Float32Array, text: string): Match {
  const byIntent = new Map<Intent, number[]>();
  index.vectors.forEach((v, i) => {
    const intent = index.intents[i]!;
    byIntent.set(intent, [...(byIntent.get(intent) ?? []), dot(v, vector)]);
  });
  const scored = [...byIntent].map(([intent, cosines]) => {
    const nearest = cosines.sort((a, b) => b - a).slice(0, NEIGHBOURS);
    return { intent, score: nearest.reduce((s, c) => s + c, 0) / nearest.length };
  });
  scored.sort((a, b) => b.score - a.score);
  const first = scored[0]!;
  const second = scored.find((s) => familyOf(s.intent) !== familyOf(first.intent));
  return {
    intent: sideOf(first.intent, text),
    score: first.score,
    margin: first.score - (second?.score ?? 0),
    runnerUp: second?.intent ?? first.intent,
    ranked: scored,
  };
}

/** How a reply was understood, and by what. */
export interface Understanding extends ReplyMeaning {
  readonly intent: Intent;
  /** The rule table, the meaning matcher (confident), or a proposal waiting for a "yes". */
  readonly by: 'rules' | 'meaning' | 'proposal';
  /**
   * A description no edit reads: a new prompt where the reply is not aimed at one image (in a thread).
   * Typed `unaimed`: the words start a new image rather than edit the conversation's latest one.
   */
  readonly newPrompt: boolean;
}

/** Intents of rules that capture free text: they may take words that mean something else entirely. */
const OPEN_INTENTS: ReadonlySet<Intent> = new Set([
  'substitute',
  'attribute',
  'weight',
  'add',
  'remove',
  'make',
  'style',
  'background',
  'region',
  'zoom in',
]);

/** Readings the rules give when no rule matched: a description, an unknown verb, an unknown question. */
function fellBack(meaning: Interpretation): boolean {
  return (
    (meaning.kind === 'refine' && meaning.rule === 'text') ||
    meaning.kind === 'unclear' ||
    (meaning.kind === 'question' && meaning.topic === 'other')
  );
}

/** Well past the confidence bar: an edit read this clearly overrules a rule that captured free text. */
function clear(match: Match): boolean {
  return (
    match.score >= MIN_SCORE + 0.15 &&
    match.margin >= 2.5 * MIN_MARGIN &&
    !DESCRIPTIVE.has(match.intent) &&
    match.intent !== 'add'
  );
}

/** Descriptions: intents whose reading adds the reply's words to the prompt. */
const DESCRIPTIVE: ReadonlySet<Intent> = new Set(['new prompt', 'make', 'style', 'unclear']);

/** The best score of an intent that edits the image (not one that describes it). */
function bestEdit(match: Match): number {
  return match.ranked.find((r) => !DESCRIPTIVE.has(r.intent))?.score ?? 0;
}

/**
 * An article or a number before a new subject ("a portrait of …", "two cats …"). Not "the": typed with
 * no message chosen, "the colours are too strong" speaks of the image shown.
 */
const NEW_SUBJECT =
  /^(?:an?|some|two|three|four|five|several|many|\d+|(?:a )?(?:photo|portrait|painting|drawing|picture) of)\s/i;

/** Words that start a prompt: an article or a number before the subject. */
const startsLikePrompt = (words: string) => NEW_SUBJECT.test(words) || /^the\s/i.test(words);

/** Readings worth proposing ("yes" to a "yes" would be no reading at all). */
const PROPOSABLE = (intent: Intent) => intent !== 'unclear' && intent !== 'confirm';

/** The least score of a question topic read from an unknown question. */
const MIN_QUESTION_SCORE = 0.35;

/** Questions no rule knows: the nearest question topic, when it stands out among the questions. */
function question(ruled: Understanding, match: Match): Understanding | undefined {
  const questions = match.ranked.filter((r) => r.intent.startsWith('question:'));
  const [first, second] = questions;
  if (!first || first.score < MIN_QUESTION_SCORE || first.score - (second?.score ?? 0) < MIN_MARGIN)
    return undefined;
  const reading = readingOf(first.intent, '');
  return reading ? { ...ruled, meaning: reading, intent: first.intent, by: 'meaning' } : undefined;
}

/**
 * Where words were typed: as a reply (to a message, or in a thread), or in a channel's box with no
 * message chosen, where the playground's people type their prompts.
 */
export type Typed = 'reply' | 'unaimed';

/**
 * The rules' reading of a reply, then its meaning where the rules are unsure. Typed `unaimed`,
 * `newPrompt` says whether the words start a new image rather than edit the conversation's latest one.
 */
export async function understandReply(
  text: string,
  matcher?: IntentMatcher,
  typed: Typed = 'reply',
): Promise<Understanding> {
  const understood = await read(text, matcher);
  return typed === 'reply' ? understood : { ...understood, newPrompt: startsNewImage(text, understood) };
}

/** The rules' reading, then the matcher's where the rules are unsure. */
async function read(text: string, matcher: IntentMatcher | undefined): Promise<Understanding> {
  const rules = interpretReply(text);
  const { meaning } = rules;
  if (meaning.kind === 'error') return { ...rules, intent: 'error', by: 'rules', newPrompt: false };
  const ruled: Understanding & { meaning: Interpretation } = {
    ...rules,
    meaning,
    intent: intentOf(meaning),
    by: 'rules',
    newPrompt: false,
  };
  const exact = !OPEN_INTENTS.has(ruled.intent) && !fellBack(meaning);
  const body = replyBody(text).rest;
  // Flags ("--no blur", "a red apple --seed 4") are syntax, never a paraphrase: only the words are read.
  const said = withoutFlags(body);
  if (!matcher || exact || said === '') return ruled;
  const match = await matcher.match(said);
  if (!match) return ruled;
  const words = stripFraming(body);
  const understood = decide(ruled, match, readingOf(match.intent, words), words);
  log.debug('reply read by meaning', {
    rules: ruled.intent,
    match: match.intent,
    score: match.score.toFixed(3),
    margin: match.margin.toFixed(3),
    result: understood.intent,
    by: understood.by,
  });
  return understood;
}

/** Chooses between the rules' reading and the matcher's. */
function decide(
  ruled: Understanding & { meaning: Interpretation },
  match: Match,
  reading: Interpretation | undefined,
  words: string,
): Understanding {
  const confident = match.score >= MIN_SCORE && match.margin >= MIN_MARGIN;
  const newPrompt = match.intent === 'new prompt' && confident;
  const as = (meaning: Interpretation, by: Understanding['by'], intent = match.intent): Understanding => ({
    ...(ruled.cell === undefined ? {} : { cell: ruled.cell }),
    meaning,
    intent,
    by,
    newPrompt,
  });
  const meaning = ruled.meaning;
  if (!fellBack(meaning)) {
    // An open rule read it: a confident reading of another kind that needs no phrase overrules it ("more
    // like this one" is variations, not the weight of "like this one"), and so does a clear edit of
    // another kind ("add a moon in the top left" is a region edit, not "a moon in the top left").
    const overrule =
      reading &&
      match.intent !== ruled.intent &&
      ((confident && SIMPLE_INTENTS.has(match.intent)) || clear(match));
    return overrule ? as(reading, 'meaning') : ruled;
  }
  // A description that starts like a prompt ("a cat on a boat", "a dog in the rain") and resembles no
  // edit is a new prompt: modifiers ("in the rain", "neon lighting") have no subject of their own.
  const described = meaning.kind === 'refine' && (!confident || DESCRIPTIVE.has(match.intent));
  if (described && startsLikePrompt(words) && bestEdit(match) < MIN_SCORE)
    return { ...as(meaning, 'rules', 'new prompt'), newPrompt: true };
  if (confident && reading && match.intent !== 'unclear') return as(reading, 'meaning');
  if (meaning.kind === 'question') return question(ruled, match) ?? ruled;
  // A description stays one, added to the prompt as before; only a confident reading changes that.
  if (meaning.kind === 'refine') return as(meaning, 'rules', confident ? match.intent : ruled.intent);
  // Otherwise flowbot asks: its best reading, or (for a vague reply) adding the words to the prompt.
  if (reading && PROPOSABLE(match.intent))
    return as({ kind: 'unclear', proposal: reading, text: words }, 'proposal');
  const asText = meaning.kind === 'unclear' ? meaning.proposal : meaning;
  return as({ kind: 'unclear', proposal: asText, text: words }, 'proposal', 'unclear');
}

/**
 * Whether words typed with no message chosen (the playground's box) start a new image. There a prompt
 * is what people type most, so a description starts one: whether the rules read it as one or the
 * matcher finds only a description in it ("neon lighting"), and a description that starts with a new
 * subject ("a portrait of a woman", "a sepia photograph of a station") whatever edit its words recall.
 * An edit the rules or the matcher recognise ("darker", "make it night", "go back one", "can I see a
 * few other versions of this?") applies to the latest image.
 */
function startsNewImage(text: string, understood: Understanding): boolean {
  const { meaning, by, intent } = understood;
  if (understood.newPrompt || meaning.kind === 'error') return true;
  if (newSubject(text)) return true;
  // A proposal is judged by what it proposes: adding the words to the prompt is a description too.
  const reading = meaning.kind === 'unclear' ? meaning.proposal : meaning;
  const saidMakeIt = by === 'rules' && reading.kind === 'refine' && reading.rule === 'make it';
  return DESCRIPTIVE.has(intent === 'unclear' ? intentOf(reading) : intent) && !saidMakeIt;
}

/** A description no rule reads as an edit, starting with a new subject. */
function newSubject(text: string): boolean {
  const { meaning } = interpretReply(text);
  const words = stripFraming(replyBody(text).rest);
  return meaning.kind === 'refine' && meaning.rule === 'text' && NEW_SUBJECT.test(words);
}

/** A reading in a few words, for a proposal ("My best reading: upscale."). */
export function readingName(meaning: Interpretation): string {
  return intentOf(meaning)
    .replace(/^exact:/, '')
    .replace(/^question:/, 'a question about the ');
}
