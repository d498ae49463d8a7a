/**
 * The zod schema of a reply's {@link Interpretation}, to read one back from the store (a proposal
 * waiting for a "yes") without casting. It mirrors the type in grammar.ts; the annotation below makes
 * the compiler check that whatever it accepts is an Interpretation.
 */
import { z } from 'zod';
import { outpaintSchema } from '../src/job-params.js';
import { exactEditSchema } from '../src/pipeline/edits.js';
import type { Interpretation } from './grammar.js';

const QUESTION_TOPICS = [
  'seed',
  'model',
  'prompt',
  'negative',
  'steps',
  'guidance',
  'size',
  'author',
  'lineage',
  'help',
  'other',
] as const;

const paramChangesSchema = z.object({
  seed: z.number().exactOptional(),
  aspectRatio: z.object({ width: z.number(), height: z.number() }).exactOptional(),
  steps: z.number().exactOptional(),
  guidance: z.number().exactOptional(),
  strengthDelta: z.number().exactOptional(),
  widen: z.enum(['wider', 'taller']).exactOptional(),
});

/** Parses a stored interpretation. */
export const interpretationSchema: z.ZodType<Interpretation> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('refine'),
      phrase: z.string(),
      mode: z.enum(['append', 'negative']),
      rule: z.string(),
    }),
    z.object({ kind: z.literal('inpaint'), region: z.string(), prompt: z.string() }),
    z.object({ kind: z.literal('params'), changes: paramChangesSchema }),
    z.object({ kind: z.literal('upscale'), scale: z.union([z.literal(2), z.literal(4)]) }),
    z.object({ kind: z.literal('reroll') }),
    z.object({ kind: z.literal('variations'), strength: z.enum(['subtle', 'strong']).exactOptional() }),
    z.object({ kind: z.literal('undo') }),
    z.object({ kind: z.literal('redo') }),
    z.object({ kind: z.literal('same_mask'), prompt: z.string() }),
    z.object({ kind: z.literal('question'), topic: z.enum(QUESTION_TOPICS) }),
    z.object({ kind: z.literal('substitute'), from: z.string(), to: z.string() }),
    z.object({ kind: z.literal('attribute'), subject: z.string(), attribute: z.string() }),
    z.object({ kind: z.literal('weight'), term: z.string(), factor: z.number() }),
    z.object({ kind: z.literal('exact'), edit: exactEditSchema }),
    z.object({ kind: z.literal('background'), prompt: z.string() }),
    z.object({ kind: z.literal('zoom'), what: z.string(), outpaint: outpaintSchema.exactOptional() }),
    z.object({ kind: z.literal('confirm') }),
    z.object({ kind: z.literal('unclear'), proposal: interpretationSchema, text: z.string() }),
  ]),
);
