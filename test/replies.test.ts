/**
 * Replies end to end through the real store, queue and pipeline: questions, prompt edits, exact edits
 * checked on pixels, backgrounds on a real emoji from the shipped model, and proposals.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAction } from '../commands/actions.js';
import type { Reply } from '../commands/types.js';
import { backgroundMask } from '../src/masks/background.js';
import { type RgbImage, readImage } from '../src/pipeline/image.js';
import { TestBot } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir();
let bot: TestBot;
let message: string;
let imageId: string;

const textOf = (reply: Reply) =>
  reply.type === 'text' || reply.type === 'queued'
    ? reply.text
    : reply.type === 'image'
      ? reply.view.text
      : reply.type;
const jobs = () => bot.core.store.countJobsSince('alice', 0);
const pixelsOf = async (id: string) =>
  readImage(bot.core.files.resolve(bot.core.store.getImage(id)!.filePath));

function meanLuma(image: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < image.pixels.length; i += 3)
    sum += 0.2126 * image.pixels[i]! + 0.7152 * image.pixels[i + 1]! + 0.0722 * image.pixels[i + 2]!;
  return sum / (image.pixels.length / 3);
}

function meanSaturation(image: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < image.pixels.length; i += 3) {
    const [r, g, b] = [image.pixels[i]!, image.pixels[i + 1]!, image.pixels[i + 2]!];
    sum += Math.max(r, g, b) - Math.min(r, g, b);
  }
  return sum / (image.pixels.length / 3);
}

beforeAll(async () => {
  bot = new TestBot(t.dir);
  const made = await bot.imagine('a red apple --n 1 --seed 3 --no worms');
  message = made.messageId!;
  imageId = made.view!.imageId;
});
afterAll(async () => {
  await bot.close();
  t.cleanup();
});

describe('questions are answered and queue nothing', () => {
  it.each([
    ['what seed is this?', /seed 3\b/],
    ['which model?', /the model flow-tiny/],
    ['what was the prompt?', /"a red apple", avoiding "worms"/],
    ['how many steps?', /took \d+ steps/],
    ['who made this?', /made for <@alice>/],
    ['what can I say?', /exact edits \(instant\)/],
    ['what size is it?', /is 64×64/],
    ['is this a pear?', /can't answer that one/],
  ])('%j', async (question, answer) => {
    const before = jobs();
    const { reply } = await bot.replyTo(message, question);
    expect(textOf(reply)).toMatch(answer);
    expect(jobs()).toBe(before);
  });
});

describe('prompt edits', () => {
  it('"change the apple to a pear" makes the prompt "a red pear"', async () => {
    const { view } = await bot.replyTo(message, 'change the apple to a pear');
    const record = bot.core.store.getImage(view!.imageId)!;
    expect(record).toMatchObject({
      operation: 'variation',
      prompt: 'a red pear',
      parentId: imageId,
      strength: 0.7,
      seed: 3,
    });
    expect(view!.text).toBe(
      `Changed "apple" to "pear": "a red apple" → "a red pear" · img2img 0.7 · seed 3 · from #${imageId}`,
    );
  });

  it('a word that is not in the prompt is named, with the closest one, and nothing is queued', async () => {
    const before = jobs();
    const { reply } = await bot.replyTo(message, 'change the aple to a pear');
    expect(textOf(reply)).toBe(
      '"aple" isn\'t in the prompt "a red apple". Did you mean "apple"? Try "change the apple to …".',
    );
    expect(jobs()).toBe(before);
  });

  it('"less red please" weighs the word down; "less busy" becomes a negative term; both say which', async () => {
    const weighted = await bot.replyTo(message, 'less red please');
    expect(bot.core.store.getImage(weighted.view!.imageId)).toMatchObject({ prompt: 'a (red:0.7) apple' });
    expect(weighted.view!.text).toMatch(/^Less "red" \(prompt weighting ×0\.7\)/);
    const negative = await bot.replyTo(message, 'less busy');
    expect(bot.core.store.getImage(negative.view!.imageId)).toMatchObject({
      prompt: 'a red apple',
      negativePrompt: 'worms, busy',
    });
    expect(negative.view!.text).toMatch(/^Less "busy" \(a negative term/);
  });

  it('"give me more like this" makes variations', async () => {
    const { view } = await bot.replyTo(message, 'give me more like this');
    expect(view!.isGrid).toBe(true);
    expect(bot.core.store.getImage(view!.cellIds[0]!)).toMatchObject({
      operation: 'variation',
      parentId: imageId,
    });
  });

  it('an unclear reply is proposed, and "yes" carries it out', async () => {
    const before = jobs();
    const { reply } = await bot.replyTo(message, 'fix the lighting');
    expect(textOf(reply)).toBe(
      'I\'m not sure what "fix the lighting" means. My best reading: add it to the prompt → "a red apple, fix the lighting" (img2img). Reply "yes" to do that, or say it another way ("what can I say?" lists what I understand).',
    );
    expect(jobs()).toBe(before);
    const { view } = await bot.replyTo(message, 'yes');
    expect(bot.core.store.getImage(view!.imageId)).toMatchObject({ prompt: 'a red apple, fix the lighting' });
    const { reply: again } = await bot.replyTo(message, 'yes');
    expect(textOf(again)).toMatch(/^There is nothing waiting for a yes/);
  });
});

describe('zoom out and pan (outpainting)', () => {
  /** Mean per-channel difference of two same-size images over a rectangle. */
  function meanDiff(
    a: RgbImage,
    b: RgbImage,
    rect: { left: number; top: number; width: number; height: number },
  ) {
    let sum = 0;
    for (let y = rect.top; y < rect.top + rect.height; y++)
      for (let x = rect.left; x < rect.left + rect.width; x++)
        for (let c = 0; c < 3; c++)
          sum += Math.abs(a.pixels[(y * a.width + x) * 3 + c]! - b.pixels[(y * b.width + x) * 3 + c]!);
    return sum / (rect.width * rect.height * 3);
  }

  it('Zoom Out 2x keeps the original, downscaled, in the centre and paints the new border', async () => {
    const { view } = await bot.press(encodeAction({ action: 'zoom', imageId, cell: 20 }));
    const record = bot.core.store.getImage(view!.imageId)!;
    expect(record).toMatchObject({ operation: 'inpaint', parentId: imageId, width: 64, height: 64 });
    expect(view!.text).toMatch(/^Zoomed out 2×: "a red apple" · 64×64, the new area painted/);
    const zoomed = await pixelsOf(record.id);
    const original = await pixelsOf(imageId);
    const small = await sharp(original.pixels, { raw: { width: 64, height: 64, channels: 3 } })
      .resize(32, 32, { kernel: 'lanczos3' })
      .extend({ left: 16, top: 16, right: 16, bottom: 16, extendWith: 'copy' })
      .raw()
      .toBuffer();
    const reference = { width: 64, height: 64, pixels: new Uint8Array(small) };
    expect(meanDiff(zoomed, reference, { left: 17, top: 17, width: 30, height: 30 })).toBeLessThan(1);
    // The border is painted: another zoom (another seed) paints it differently around the same centre.
    const again = await bot.press(encodeAction({ action: 'zoom', imageId, cell: 20 }));
    const other = await pixelsOf(again.view!.imageId);
    expect(meanDiff(other, zoomed, { left: 0, top: 0, width: 64, height: 8 })).toBeGreaterThan(0.5);
    expect(meanDiff(other, zoomed, { left: 17, top: 17, width: 30, height: 30 })).toBeLessThan(1);
  });

  it('⬅️ gives a wider image whose right part is the original', async () => {
    const { view } = await bot.press(encodeAction({ action: 'pan', imageId, cell: 1 }));
    const record = bot.core.store.getImage(view!.imageId)!;
    expect(record).toMatchObject({ operation: 'inpaint', width: 96, height: 64 });
    const panned = await pixelsOf(record.id);
    const original = await pixelsOf(imageId);
    let same = 0;
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++)
        for (let c = 0; c < 3; c++)
          same += Number(panned.pixels[(y * 96 + 32 + x) * 3 + c] === original.pixels[(y * 64 + x) * 3 + c]);
    expect(same / (64 * 64 * 3)).toBeGreaterThan(0.98);
  });

  it('"make it wider" widens on both sides; "zoom in" is answered plainly', async () => {
    const { view } = await bot.replyTo(message, 'make it wider');
    expect(bot.core.store.getImage(view!.imageId)).toMatchObject({ width: 96, height: 64 });
    const before = jobs();
    const { reply } = await bot.replyTo(message, 'zoom in');
    expect(textOf(reply)).toMatch(/^I can't "zoom in" yet/);
    expect(jobs()).toBe(before);
  });
});

describe('exact edits need no diffusion', () => {
  it('darker lowers the mean luminance exactly, as one job like any other, and undo brings the original back', async () => {
    const before = jobs();
    const { reply, view, messageId } = await bot.replyTo(message, 'could you make it darker please?');
    // Queued, so that edits count against the same limits as every other job.
    expect(reply.type).toBe('queued');
    expect(jobs()).toBe(before + 1);
    const record = bot.core.store.getImage(view!.imageId)!;
    expect(record).toMatchObject({
      operation: 'edit',
      parentId: imageId,
      prompt: 'a red apple',
      seed: 3,
      scheduler: 'exact:brightness',
      extra: { edit: { op: 'brightness', factor: 0.75 } },
    });
    expect(view!.text).toBe(
      `Edited exactly: darker (×0.75 brightness) · no diffusion, the same pixels otherwise · from #${imageId}`,
    );
    const [original, darker] = [await pixelsOf(imageId), await pixelsOf(record.id)];
    expect(meanLuma(darker)).toBeLessThan(meanLuma(original) * 0.8);
    const { reply: back } = await bot.replyTo(messageId!, 'undo');
    expect(back.type === 'image' && back.view.imageId).toBe(imageId);
  });

  it('black and white has near-zero saturation; mirror equals the flipped original', async () => {
    const original = await pixelsOf(imageId);
    const grey = await bot.replyTo(message, 'black and white');
    expect(meanSaturation(await pixelsOf(grey.view!.imageId))).toBeLessThan(1.5);
    expect(meanSaturation(original)).toBeGreaterThan(5);
    const mirrored = await pixelsOf((await bot.replyTo(message, 'mirror')).view!.imageId);
    const { width, height } = original;
    let differences = 0;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++)
          differences += Number(
            mirrored.pixels[(y * width + x) * 3 + c] !== original.pixels[(y * width + width - 1 - x) * 3 + c],
          );
    expect(differences).toBe(0);
    const cropped = await bot.replyTo(message, 'crop to 16:9');
    expect(bot.core.store.getImage(cropped.view!.imageId)).toMatchObject({
      width: 64,
      height: 36,
      operation: 'edit',
    });
    const turned = await bot.replyTo(message, 'rotate left');
    expect(bot.core.store.getImage(turned.view!.imageId)).toMatchObject({ operation: 'edit' });
  });
});

describe('backgrounds on an emoji from the shipped model', () => {
  const shipped = tempDir();
  let emojiBot: TestBot;
  afterAll(async () => {
    await emojiBot?.close();
    shipped.cleanup();
  });

  /** Mean per-pixel difference inside the subject (mask 0) and in the full background (mask 1). */
  function differences(before: RgbImage, after: RgbImage, mask: Float32Array) {
    const sums = { subject: 0, subjectCount: 0, background: 0, backgroundCount: 0 };
    for (let i = 0; i < mask.length; i++) {
      const d =
        [0, 1, 2].reduce((s, c) => s + Math.abs(after.pixels[3 * i + c]! - before.pixels[3 * i + c]!), 0) / 3;
      if (mask[i] === 0) {
        sums.subject += d;
        sums.subjectCount++;
      } else if (mask[i]! > 0.99) {
        sums.background += d;
        sums.backgroundCount++;
      }
    }
    expect(sums.subjectCount).toBeGreaterThan(100);
    return { subject: sums.subject / sums.subjectCount, background: sums.background / sums.backgroundCount };
  }

  it('"make the background blue" recolours the backdrop exactly and keeps the subject', async () => {
    emojiBot = new TestBot(shipped.dir, {
      MODELS_DIR: path.resolve(import.meta.dirname, '..', 'models'),
      MODEL: 'flowbot-emoji',
      UPSCALER: 'esrgan-slim',
    });
    const made = await emojiBot.imagine('a red apple --n 1 --seed 5');
    const id = made.view!.imageId;
    const original = await readImage(emojiBot.core.files.resolve(emojiBot.core.store.getImage(id)!.filePath));
    const { mask, method } = await backgroundMask(original);
    expect(method).toBe('backdrop');
    const { reply, view } = await emojiBot.replyTo(made.messageId!, 'can you make the background blue');
    expect(reply.type).toBe('queued');
    const record = emojiBot.core.store.getImage(view!.imageId)!;
    expect(record).toMatchObject({ operation: 'edit', prompt: 'a red apple', parentId: id });
    expect(view!.text).toMatch(/^Edited exactly: background recoloured blue · no diffusion/);
    const edited = await readImage(emojiBot.core.files.resolve(record.filePath));
    const diff = differences(original, edited, mask);
    expect(diff.subject).toBe(0);
    expect(diff.background).toBeGreaterThan(60);
    // A scene is painted, not recoloured: an inpaint inside the same background mask.
    const scene = await emojiBot.replyTo(made.messageId!, 'change the background to a beach at sunset');
    const painted = emojiBot.core.store.getImage(scene.view!.imageId)!;
    expect(painted).toMatchObject({ operation: 'inpaint', prompt: 'beach at sunset', parentId: id });
    expect(
      differences(original, await readImage(emojiBot.core.files.resolve(painted.filePath)), mask).subject,
    ).toBeLessThan(1);
    // "make the apple green" repaints the subject (the complement of the background) with the edited prompt.
    const green = await emojiBot.replyTo(made.messageId!, 'make the apple green');
    expect(emojiBot.core.store.getImage(green.view!.imageId)).toMatchObject({
      operation: 'inpaint',
      prompt: 'a green apple',
    });
    expect(green.view!.text).toMatch(/^Made the apple green: "a green apple" in the apple · inpaint/);
  });
});
