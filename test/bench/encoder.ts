/**
 * The sentence encoder on replies: the first load (the session, the tokenizer and the corpus
 * embedded once), then the time one reply takes to be understood by meaning, over the held-out
 * phrasings, as `understandReply` runs it (rules, embedding, nearest phrasings, slots).
 */
import path from 'node:path';
import { replyBody } from '../../commands/grammar.js';
import { IntentMatcher, understandReply } from '../../commands/meaning.js';
import { loadCorpus, splitCorpus } from '../../commands/phrasings.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { SentenceEncoder } from '../../src/pipeline/sentence-encoder.js';
import type { BenchResult } from './queue.js';

const root = path.resolve(import.meta.dirname, '..', '..');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** Runs the encoder benchmark on `threads` ONNX Runtime threads (`npm start` gives it one). */
async function benchEncoder(threads: number, rounds = 3): Promise<BenchResult> {
  const backend = new OnnxBackend({ executionProvider: 'cpu', threads });
  const encoder = new SentenceEncoder(backend, path.join(root, 'models', 'minilm-l6'));
  const { matching, heldOut } = splitCorpus(loadCorpus().phrasings);
  const matcher = new IntentMatcher(encoder, matching);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const loadStart = performance.now();
  await matcher.match('hello');
  const firstLoadMs = performance.now() - loadStart;
  const replies = heldOut.map((p) => p.text).filter((text) => replyBody(text).rest !== '');
  const understood: number[] = [];
  const embedded: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const text of replies) {
      let start = performance.now();
      await understandReply(text, matcher);
      understood.push(performance.now() - start);
      start = performance.now();
      await encoder.embed([text]);
      embedded.push(performance.now() - start);
    }
  }
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  await backend.dispose();
  understood.sort((a, b) => a - b);
  embedded.sort((a, b) => a - b);
  const ms = (value: number) => Number(value.toFixed(1));
  return {
    name: `sentence encoder, ${threads} thread(s): ${matching.length} phrasings indexed, ${replies.length} held-out replies × ${rounds}`,
    figures: {
      firstLoadMs: ms(firstLoadMs),
      replyMedianMs: ms(percentile(understood, 0.5)),
      replyP95Ms: ms(percentile(understood, 0.95)),
      embedMedianMs: ms(percentile(embedded, 0.5)),
      rssAddedMB: Math.round((rssAfter - rssBefore) / 1e6),
    },
  };
}

/** The encoder as flowbot runs it (one thread), and on two threads for comparison. */
export function encoderBenches(): (() => Promise<BenchResult>)[] {
  return [() => benchEncoder(1), () => benchEncoder(2)];
}
