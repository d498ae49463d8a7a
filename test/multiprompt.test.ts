/**
 * Multi-prompts (`cat::2 dog`): parsed weights, the weighted sum of every family's conditioning, and
 * the command path's images.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeConditioning } from '../src/pipeline/conditioning.js';
import { familyOf } from '../src/pipeline/families/index.js';
import { loadModelSpec } from '../src/pipeline/model.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { TextEncoders } from '../src/pipeline/text.js';
import { parseMultiPrompt } from '../src/prompt/multiprompt.js';
import { FIXTURE_MODELS, TestBot } from './helpers/bot.js';
import { maxDiff } from './helpers/images.js';
import { tempDir } from './helpers/tmp.js';

const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
const pipeline = new Pipeline(backend);
afterAll(() => backend.dispose());

const parts = (prompt: string) => {
  const parsed = parseMultiPrompt(prompt);
  return parsed.ok ? parsed.value : parsed.error.message;
};

describe('multi-prompt syntax', () => {
  it('reads parts and weights: a part without a weight weighs 1, weight 0 leaves a part out', () => {
    expect(parts('hot dog::1.5 animal::-0.5')).toEqual([
      { text: 'hot dog', weight: 1.5 },
      { text: 'animal', weight: -0.5 },
    ]);
    expect(parts('cat::2 dog')).toEqual([
      { text: 'cat', weight: 2 },
      { text: 'dog', weight: 1 },
    ]);
    expect(parts('cat:: dog::.5')).toEqual([
      { text: 'cat', weight: 1 },
      { text: 'dog', weight: 0.5 },
    ]);
    expect(parts('cat::1 dog::0')).toEqual([{ text: 'cat', weight: 1 }]);
    expect(parts('a (red:1.3) apple')).toEqual([{ text: 'a (red:1.3) apple', weight: 1 }]);
  });

  it('refuses weights that cannot make an image, saying why', () => {
    expect(parts('dog::-1')).toBe(
      'The weights of a multi-prompt must add up to more than 0 (these add up to -1), e.g. "hot dog::1.5 animal::-0.5".',
    );
    expect(parts('cat::0')).toMatch(/must add up to more than 0/);
    expect(parts('cat::50 dog')).toBe('Multi-prompt weights go from −10 to 10; "::50" is outside that.');
  });
});

const FAMILIES = ['flow-tiny', 'sd-tiny', 'sdxl-tiny', 'sd3-tiny', 'flux-schnell-tiny'];

describe('multi-prompts mix the conditioning of every family', () => {
  for (const name of FAMILIES) {
    it(`${name}: cat::1 dog::3 mixes them 1:3, cat::1 dog::1 differs from each, cat::1 dog::0 is exactly cat`, async () => {
      const spec = loadModelSpec(path.join(FIXTURE_MODELS, name));
      const family = familyOf(spec);
      const text = new TextEncoders(backend);
      const encode = (prompt: string) => encodeConditioning(family, text, spec, prompt, 'blurry', true);
      const [cat, dog, mix] = await Promise.all(['cat', 'dog', 'cat::1 dog::3'].map(encode));
      for (const [key, tensor] of Object.entries(mix!.cond)) {
        const expected = (cat!.cond[key]!.data as Float32Array).map(
          (v, i) => 0.25 * v + 0.75 * (dog!.cond[key]!.data as Float32Array)[i]!,
        );
        const data = tensor.data as Float32Array;
        expect(Math.max(...data.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThan(1e-5);
      }
      // The negative prompt's conditioning is the same as a plain prompt's.
      expect(mix!.uncond).toEqual(cat!.uncond);
      const size = { width: 64, height: 64 };
      const run = (prompt: string) =>
        pipeline.generate({ model: spec, prompt, seed: 4, steps: 2, n: 1, ...size });
      const images = await Promise.all(['cat', 'dog', 'cat::1 dog::1', 'cat::1 dog::0'].map(run));
      const [plainCat, plainDog, mixed, zeroDog] = images.map((result) => result.images[0]!);
      expect(Buffer.from(zeroDog!.pixels).equals(Buffer.from(plainCat!.pixels))).toBe(true);
      expect(maxDiff(mixed!, plainCat!)).toBeGreaterThan(0);
      expect(maxDiff(mixed!, plainDog!)).toBeGreaterThan(0);
    });
  }
});

describe('multi-prompts through /imagine', () => {
  const t = tempDir();
  let bot: TestBot;
  beforeAll(() => {
    bot = new TestBot(t.dir);
  });
  afterAll(async () => {
    await bot.close();
    t.cleanup();
  });

  const pixelsOf = async (prompt: string) => {
    const { view } = await bot.imagine(`${prompt} --n 1 --seed 8`);
    if (!view) throw new Error(`no image for ${prompt}`);
    return readFileSync(view.file);
  };

  it('cat::1 dog::1 differs from cat and from dog; cat::1 dog::0 makes exactly the image of cat', async () => {
    const { readImage } = await import('../src/pipeline/image.js');
    const [cat, dog, both, zero] = await Promise.all(
      [
        await pixelsOf('cat'),
        await pixelsOf('dog'),
        await pixelsOf('cat::1 dog::1'),
        await pixelsOf('cat::1 dog::0'),
      ].map((png) => readImage(png)),
    );
    expect(Buffer.from(zero!.pixels).equals(Buffer.from(cat!.pixels))).toBe(true);
    expect(maxDiff(both!, cat!)).toBeGreaterThan(0);
    expect(maxDiff(both!, dog!)).toBeGreaterThan(0);
  });

  it('refuses weights that add up to nothing before queueing', async () => {
    const [reply] = await bot.send({ kind: 'command', name: 'imagine', text: 'cat::-2 dog', ctx: bot.ctx() });
    expect(reply).toMatchObject({
      type: 'text',
      text: expect.stringMatching(/^The weights of a multi-prompt must add up to more than 0/),
    });
  });
});
