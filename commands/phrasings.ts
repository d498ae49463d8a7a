/**
 * The labelled corpus of reply phrasings (`phrasings.json`): what people write, grouped by what they
 * mean. The meaning matcher compares a reply with it, and the tests measure it. It is split once, by a
 * hash of each phrasing, into the phrasings matching uses (80% of each intent) and a held-out 20% that
 * matching never sees, so that accuracy is measured on wordings the matcher has not been given.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Interpretation } from './grammar.js';

/** What a reply means, one label per thing flowbot can do (question topics and exact edits apart). */
export type Intent = string;

/** The rule table's exact reading of a phrasing, where the corpus pins it down. */
const rulesSchema = z.object({
  cell: z.number().int().min(1).max(4).optional(),
  meaning: z.record(z.string(), z.unknown()),
  /** The prompt the edit leads to from the corpus prompt; "-x": x joins the negative; "!x": x is missing. */
  prompt: z.string().optional(),
});

const entrySchema = z.union([z.string().min(1), z.object({ text: z.string(), rules: rulesSchema })]);

const corpusSchema = z.object({
  about: z.string(),
  prompt: z.string(),
  negative: z.string(),
  intents: z.record(z.string(), z.array(entrySchema).min(5)),
});

/** One labelled phrasing. */
export interface Phrasing {
  readonly text: string;
  readonly intent: Intent;
  /** The rule table's exact reading, for the phrasings that pin one down. */
  readonly rules?: z.infer<typeof rulesSchema>;
}

/** The corpus as read from `phrasings.json`. */
export interface Corpus {
  /** The prompt (and negative prompt) every phrasing is a reply to. */
  readonly prompt: string;
  readonly negative: string;
  readonly phrasings: readonly Phrasing[];
}

/** Reads and checks the corpus. */
export function loadCorpus(file = new URL('./phrasings.json', import.meta.url)): Corpus {
  const raw = corpusSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const phrasings = Object.entries(raw.intents).flatMap(([intent, entries]) =>
    entries.map(
      (entry): Phrasing => (typeof entry === 'string' ? { text: entry, intent } : { ...entry, intent }),
    ),
  );
  return { prompt: raw.prompt, negative: raw.negative, phrasings };
}

/** FNV-1a: a stable hash, so the split is the same on every machine and run. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Share of each intent's phrasings held out of matching. */
export const HELD_OUT_SHARE = 0.2;

/**
 * The deterministic split: within each intent, the phrasings are ordered by hash and the first 20%
 * (rounded) are held out.
 */
export function splitCorpus(phrasings: readonly Phrasing[]): {
  matching: Phrasing[];
  heldOut: Phrasing[];
} {
  const byIntent = new Map<Intent, Phrasing[]>();
  for (const phrasing of phrasings)
    byIntent.set(phrasing.intent, [...(byIntent.get(phrasing.intent) ?? []), phrasing]);
  const matching: Phrasing[] = [];
  const heldOut: Phrasing[] = [];
  for (const group of byIntent.values()) {
    const ordered = [...group].sort((a, b) => hash(a.text) - hash(b.text) || a.text.localeCompare(b.text));
    const held = Math.round(group.length * HELD_OUT_SHARE);
    heldOut.push(...ordered.slice(0, held));
    matching.push(...ordered.slice(held));
  }
  return { matching, heldOut };
}

/** The exact edits' intents, by what they do. */
function exactIntent(meaning: Extract<Interpretation, { kind: 'exact' }>): Intent {
  const edit = meaning.edit;
  switch (edit.op) {
    case 'brightness':
      return edit.factor < 1 ? 'exact:darker' : 'exact:brighter';
    case 'saturation':
      return edit.factor < 1 ? 'exact:desaturate' : 'exact:saturate';
    case 'temperature':
      return edit.amount < 0 ? 'exact:cooler' : 'exact:warmer';
    case 'sharpen':
      return 'exact:sharpen';
    default:
      return `exact:${edit.op}`;
  }
}

/** The intent of an interpretation (how the corpus labels it). */
export function intentOf(meaning: Interpretation): Intent {
  switch (meaning.kind) {
    case 'question':
      return `question:${meaning.topic}`;
    case 'exact':
      return exactIntent(meaning);
    case 'zoom':
      if (!meaning.outpaint) return meaning.what.startsWith('zoom in') ? 'zoom in' : 'zoom out';
      return meaning.outpaint.kind === 'zoom' ? 'zoom out' : meaning.outpaint.kind;
    case 'params': {
      const changes = meaning.changes;
      if (changes.strengthDelta !== undefined) return changes.strengthDelta > 0 ? 'stronger' : 'subtler';
      if (changes.seed !== undefined) return 'seed';
      if (changes.steps !== undefined) return 'steps';
      if (changes.guidance !== undefined) return 'guidance';
      return 'aspect';
    }
    case 'refine':
      return REFINE_INTENTS[meaning.rule] ?? 'new prompt';
    case 'inpaint':
      return 'region';
    case 'same_mask':
      return 'same mask';
    case 'unclear':
      return 'unclear';
    default:
      return meaning.kind;
  }
}

/** Refines by the rule that read them; "text" (a description no rule read) is a new prompt. */
const REFINE_INTENTS: Record<string, Intent> = {
  remove: 'remove',
  add: 'add',
  with: 'add',
  'make it': 'make',
  style: 'style',
  'as a': 'style',
};
