/**
 * Image moderation's figures (`npm run bench -- moderation`): the false-positive rate of the classifier
 * at the default threshold on 1,000 safe images (the shipped model's 2×2 grids over varied prompts and
 * seeds), with the rates at other thresholds and with "Sexy" counted, to show why the default is what it
 * is; and its cost on a 2×2 grid as a ratio of the grid's own time, measured in this run, per cell (what
 * flowbot does) and on the composed grid alone.
 */
import path from 'node:path';
import { DEFAULT_NSFW_THRESHOLD } from '../../commands/moderation.js';
import { NsfwClassifier, type NsfwReading } from '../../src/moderation/classifier.js';
import type { RgbImage } from '../../src/pipeline/image.js';
import { composeGrid } from '../../src/pipeline/image.js';
import { loadModelSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { BenchResult } from './queue.js';

const root = path.resolve(import.meta.dirname, '..', '..');

/** Emoji subjects, people and body-adjacent ones included (the likeliest false positives). */
const SUBJECTS = [
  'red apple',
  'peach',
  'eggplant',
  'banana',
  'cherries',
  'taco',
  'bread',
  'hot pepper',
  'watermelon',
  'grinning face',
  'kissing face',
  'face blowing a kiss',
  'smiling face with hearts',
  'face with tongue',
  'woman',
  'man',
  'baby',
  'person in bath',
  'person in bed',
  'woman dancing',
  'man dancing',
  'couple with heart',
  'kiss',
  'kiss mark',
  'lips',
  'tongue',
  'bikini',
  'one-piece swimsuit',
  'bra',
  'woman getting massage',
  'ear',
  'nose',
  'leg',
  'foot',
  'flexed biceps',
  'hand with fingers splayed',
  'ok hand',
  'pinching hand',
  'red heart',
  'fire',
  'sweat droplets',
  'rose',
  'hibiscus',
  'tulip',
  'cat face',
  'dog face',
  'pig nose',
  'rocket',
  'milky way',
  'rainbow flag',
  'satellite',
  'chart increasing',
  'nut and bolt',
  'lipstick',
  'high-heeled shoe',
  'ring',
  'candle',
  'superhero',
  'mermaid',
  'genie',
];
const STYLES = ['', ' in noto style', ' in twemoji style', ' in 3d style', ' in flat style'];
const GRIDS = 250;
const THRESHOLDS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];

function rate(readings: readonly NsfwReading[], flagged: (r: NsfwReading) => boolean): string {
  const count = readings.filter(flagged).length;
  return `${((100 * count) / readings.length).toFixed(2)} % (${count}/${readings.length})`;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}

/** The false-positive rates and the cost, in one run. */
export async function benchModeration(): Promise<BenchResult> {
  const spec = loadModelSpec(path.join(root, 'models', 'flowbot-emoji'));
  const backend = new OnnxBackend({ executionProvider: 'cpu' });
  const pipeline = new Pipeline(backend);
  // As the front-end runs it: its own one-thread backend (shared with the sentence encoder).
  const classifierBackend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
  const classifier = new NsfwClassifier(classifierBackend, path.join(root, 'models', 'nsfw-mobilenet-v2'));
  const request = (i: number) => ({
    model: spec,
    prompt: `${SUBJECTS[i % SUBJECTS.length]}${STYLES[Math.floor(i / SUBJECTS.length) % STYLES.length]}`,
    negativePrompt: '',
    // Seeds 1000+ chose the default threshold; these images played no part in that choice.
    seed: 5000 + i,
    n: 4,
  });
  // Warm-up: session creation is not part of a grid's time, nor of a classification's.
  await classifier.classify((await pipeline.generate(request(0))).images);

  const readings: NsfwReading[] = [];
  let gridMs = 0;
  let perCellMs = 0;
  let wholeGridMs = 0;
  let worst = { score: 0, prompt: '' };
  for (let i = 0; i < GRIDS; i++) {
    const [result, generateMs] = await timed(() => pipeline.generate(request(i)));
    const images: RgbImage[] = result.images;
    const [cells, cellsMs] = await timed(() => classifier.classify(images));
    const grid = await composeGrid(images);
    const [, gridOnlyMs] = await timed(() => classifier.classify([grid]));
    gridMs += generateMs;
    perCellMs += cellsMs;
    wholeGridMs += gridOnlyMs;
    readings.push(...cells);
    for (const cell of cells)
      if (cell.score > worst.score) worst = { score: cell.score, prompt: request(i).prompt };
  }
  await backend.dispose();
  await classifierBackend.dispose();

  const figures: Record<string, string | number> = {
    images: readings.length,
    [`false positives at ${DEFAULT_NSFW_THRESHOLD} (default)`]: rate(
      readings,
      (r) => r.score >= DEFAULT_NSFW_THRESHOLD,
    ),
  };
  for (const threshold of THRESHOLDS)
    figures[`  at ${threshold}`] = rate(readings, (r) => r.score >= threshold);
  figures[`  at ${DEFAULT_NSFW_THRESHOLD} counting Sexy`] = rate(
    readings,
    (r) => r.score + (r.classes.Sexy ?? 0) >= DEFAULT_NSFW_THRESHOLD,
  );
  const sorted = readings.map((r) => r.score).sort((a, b) => a - b);
  figures['score median / p99 / max'] =
    `${sorted[Math.floor(sorted.length / 2)]!.toFixed(4)} / ${sorted[Math.floor(sorted.length * 0.99)]!.toFixed(4)} / ${sorted.at(-1)!.toFixed(4)}`;
  figures['most explicit-looking prompt'] = `${worst.prompt} (${worst.score.toFixed(3)})`;
  figures['grid ms (2×2, 64 px, mean)'] = Number((gridMs / GRIDS).toFixed(1));
  figures['classifier ms, 4 cells (mean)'] = Number((perCellMs / GRIDS).toFixed(1));
  figures['classifier ms, grid image'] = Number((wholeGridMs / GRIDS).toFixed(1));
  figures['cost per cell ÷ grid time'] = Number((perCellMs / gridMs).toFixed(3));
  figures['cost on grid ÷ grid time'] = Number((wholeGridMs / gridMs).toFixed(3));
  return { name: `image moderation: nsfwjs MobileNetV2 on ${readings.length} shipped-model images`, figures };
}
