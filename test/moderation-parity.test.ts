/**
 * The moderation classifier is nsfwjs: flowbot's ONNX conversion (models/nsfw-mobilenet-v2), run through
 * flowbot's ONNX backend, gives nsfwjs 4.4.0's own TensorFlow.js probabilities within 1e-3 on 56 safe
 * images fed the same 224² tensor. nsfwjs' references (test/fixtures/nsfw-reference.json, made by
 * test/fixtures/make-nsfw-reference.ts) are checked live on a subset: TF.js's pure-JS backend takes
 * about a second an image, two minutes for all 56 on a busy 2-core host.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NsfwClassifier } from '../src/moderation/classifier.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { inputTensor, type NamedImage, parityImages } from './helpers/nsfw-images.js';
import { loadNsfwjs, nsfwjsClassify, nsfwjsProbabilities } from './helpers/nsfwjs.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const MODEL_DIR = path.join(ROOT, 'models', 'nsfw-mobilenet-v2');
const referenceSchema = z.object({
  nsfwjs: z.literal('4.4.0'),
  classes: z.array(z.string()).length(5),
  images: z.array(z.object({ name: z.string(), probabilities: z.array(z.number()).length(5) })),
});
const reference = referenceSchema.parse(
  JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'nsfw-reference.json'), 'utf8')),
);

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('the moderation classifier against nsfwjs', () => {
  const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
  const classifier = new NsfwClassifier(backend, MODEL_DIR);
  let images: NamedImage[];
  let nsfwjs: Awaited<ReturnType<typeof loadNsfwjs>>;

  beforeAll(async () => {
    images = await parityImages();
    nsfwjs = await loadNsfwjs();
  }, 60_000);
  afterAll(() => backend.dispose());

  it('has a reference for every parity image, 50 or more', () => {
    expect(images.length).toBeGreaterThanOrEqual(50);
    expect(reference.images.map((r) => r.name)).toEqual(images.map((image) => image.name));
    expect(reference.classes).toEqual(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']);
  });

  it("matches nsfwjs' probabilities within 1e-3 on every image, given the same tensor", async () => {
    let worst = 0;
    for (const [i, image] of images.entries()) {
      const ours = await classifier.probabilities(await inputTensor(image.png), 1);
      worst = Math.max(worst, maxDifference(ours, reference.images[i]!.probabilities));
    }
    expect(worst).toBeLessThan(1e-3);
  });

  it('the references are what nsfwjs computes now (live TF.js on every sixth image)', async () => {
    for (const [i, image] of images.entries()) {
      if (i % 6 !== 0) continue;
      const tensor = await inputTensor(image.png);
      const live = await nsfwjsProbabilities(nsfwjs, tensor);
      expect(maxDifference(live, reference.images[i]!.probabilities)).toBeLessThan(1e-6);
      expect(maxDifference(await classifier.probabilities(tensor, 1), live)).toBeLessThan(1e-3);
    }
  }, 120_000);

  it("flowbot's own preprocessing (sharp's resize) reads images as nsfwjs' own resize does", async () => {
    // nsfwjs point-samples (TF.js bilinear, align corners) where sharp averages, so small differences are
    // expected; the explicit score and the top class must agree.
    for (const image of images.filter((_, i) => i % 8 === 0)) {
      const { data, info } = await sharp(image.png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const theirs = await nsfwjsClassify(nsfwjs, new Uint8Array(data), info.width, info.height);
      const [ours] = await classifier.classify([image.png]);
      const theirScore = theirs[1]! + theirs[3]!;
      expect(Math.abs(ours!.score - theirScore), image.name).toBeLessThan(0.1);
      const top = (p: ArrayLike<number>) => Array.from(p).indexOf(Math.max(...Array.from(p)));
      expect(top(Object.values(ours!.classes)), image.name).toBe(top(theirs));
    }
  }, 120_000);

  it('reads decoded pixels and file bytes alike, and batches give the single results', async () => {
    const { data, info } = await sharp(images[0]!.png)
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const pixels = { width: info.width, height: info.height, pixels: new Uint8Array(data) };
    const [fromPixels, fromBytes, other] = await classifier.classify([
      pixels,
      images[0]!.png,
      images[20]!.png,
    ]);
    expect(fromPixels!.score).toBeCloseTo(fromBytes!.score, 5);
    const [alone] = await classifier.classify([images[20]!.png]);
    expect(other!.score).toBeCloseTo(alone!.score, 5);
    expect(Object.keys(alone!.classes)).toEqual(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']);
    expect(alone!.score).toBeCloseTo(alone!.classes.Hentai! + alone!.classes.Porn!, 6);
  });
});
