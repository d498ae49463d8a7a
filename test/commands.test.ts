import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAction } from '../commands/actions.js';
import type { Reply, ResultView } from '../commands/types.js';
import { readImage, readMask } from '../src/pipeline/image.js';
import { TestBot } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir();
let bot: TestBot;
beforeAll(() => {
  bot = new TestBot(t.dir);
});
afterAll(async () => {
  await bot.close();
  t.cleanup();
});

function text(reply: Reply): string {
  if (reply.type === 'text' || reply.type === 'queued') return reply.text;
  if (reply.type === 'image') return reply.view.text;
  if (reply.type === 'dm') return reply.text;
  return reply.type;
}

function image(id: string) {
  const record = bot.core.store.getImage(id);
  if (!record) throw new Error(`no image ${id}`);
  return record;
}

describe('imagine and the grid actions', () => {
  let grid: ResultView;
  let gridMessage: string;

  beforeAll(async () => {
    const result = await bot.imagine('a red apple --seed 3 --no worms');
    grid = result.view!;
    gridMessage = result.messageId!;
  });

  it('answers with a 2×2 grid, its cells and buttons', () => {
    expect(grid.isGrid).toBe(true);
    expect(grid.cellIds).toHaveLength(4);
    expect(grid.text).toBe('Imagined: "a red apple" · 4 images · 64×64 · seed 3');
    expect(grid.buttons.map((b) => b.label)).toEqual([
      'U1',
      'U2',
      'U3',
      'U4',
      '🔄',
      'V1',
      'V2',
      'V3',
      'V4',
      'Vary region',
    ]);
    expect({ width: grid.width, height: grid.height }).toEqual({ width: 128, height: 128 });
    const cells = grid.cellIds.map(image);
    expect(cells.map((c) => [c.operation, c.seed, c.cell, c.negativePrompt])).toEqual([
      ['generate', 3, 0, 'worms'],
      ['generate', 4, 1, 'worms'],
      ['generate', 5, 2, 'worms'],
      ['generate', 6, 3, 'worms'],
    ]);
  });

  it('--n 1 gives one image, not a grid, with single-image actions', async () => {
    const { view } = await bot.imagine('a pear --n 1 --seed 9');
    expect(view!.isGrid).toBe(false);
    expect(view!.buttons.map((b) => b.label)).toEqual([
      'Vary (Subtle)',
      'Vary (Strong)',
      'Vary region',
      'Upscale x2',
      'Upscale x4',
      'Upscale (Creative)',
      '🔄',
      'Zoom Out 2x',
      'Zoom Out 1.5x',
      '⬅️',
      '➡️',
      '⬆️',
      '⬇️',
    ]);
  });

  it('U2 upscales the second cell', async () => {
    const { view } = await bot.press(encodeAction({ action: 'upscale', imageId: grid.imageId, cell: 2 }));
    const up = image(view!.imageId);
    // ×2 of a 64 px cell would only match its 128 px grid: U buttons make it larger than the grid.
    expect(up).toMatchObject({ operation: 'upscale', parentId: grid.cellIds[1], width: 256, height: 256 });
    expect(view!.text).toBe(`Upscaled ×4 · #${grid.cellIds[1]} · 256×256`);
  });

  it('V3 makes variations of the third cell', async () => {
    const { view } = await bot.press(encodeAction({ action: 'vary', imageId: grid.imageId, cell: 3 }));
    expect(view!.isGrid).toBe(true);
    const cells = view!.cellIds.map(image);
    expect(
      cells.every((c) => c.operation === 'variation' && c.parentId === grid.cellIds[2] && c.strength === 0.6),
    ).toBe(true);
    expect(view!.text).toMatch(
      new RegExp(`^Variations of V3: "a red apple" · img2img 0.6 · seed \\d+ · from #${grid.cellIds[2]}$`),
    );
  });

  it('reroll repeats the prompt with a new seed', async () => {
    const { view } = await bot.press(encodeAction({ action: 'reroll', imageId: grid.imageId }));
    const cells = view!.cellIds.map(image);
    expect(cells).toHaveLength(4);
    expect(cells[0]!.prompt).toBe('a red apple');
    expect(cells[0]!.seed).not.toBe(3);
    expect(view!.text).toMatch(/^Rerolled: "a red apple"/);
  });

  it('replies refine the named cell with img2img at the same seed, and undo brings back the same pixels', async () => {
    const { view, messageId } = await bot.replyTo(gridMessage, '#2 make it green');
    const refined = image(view!.imageId);
    expect(refined).toMatchObject({
      operation: 'variation',
      parentId: grid.cellIds[1],
      prompt: 'a red apple, green',
      seed: 4,
      strength: 0.55,
    });
    expect(view!.text).toBe(
      `Refined: "a red apple" → "a red apple, green" · img2img 0.55 · seed 4 · from #${grid.cellIds[1]}`,
    );
    const { reply } = await bot.replyTo(messageId!, 'undo');
    expect(reply.type).toBe('image');
    if (reply.type === 'image') {
      expect(reply.view.imageId).toBe(grid.cellIds[1]);
      expect(
        readFileSync(reply.view.file).equals(
          readFileSync(bot.core.files.resolve(image(grid.cellIds[1]!).filePath)),
        ),
      ).toBe(true);
    }
  });

  it('"in the top left: add a moon" repaints only that quadrant, and "same mask" reuses it', async () => {
    const { view, messageId } = await bot.replyTo(gridMessage, 'bottom right: in the top left: add a moon');
    const painted = image(view!.imageId);
    expect(painted).toMatchObject({ operation: 'inpaint', parentId: grid.cellIds[3], prompt: 'a moon' });
    const mask = bot.core.store.getMask(painted.maskId!)!;
    expect(mask).toMatchObject({ source: 'region', spec: 'top left' });
    const values = await readMask(bot.core.files.resolve(mask.filePath), { width: 64, height: 64 });
    expect(values[0]).toBe(1);
    expect(values[31 * 64 + 31]).toBe(1);
    expect(values[32 * 64 + 32]).toBe(0);
    const before = await readImage(bot.core.files.resolve(image(grid.cellIds[3]!).filePath));
    const after = await readImage(view!.file);
    let outsideChanged = 0;
    for (let i = 0; i < values.length; i++)
      if (values[i] === 0)
        for (let c = 0; c < 3; c++)
          outsideChanged += before.pixels[3 * i + c] === after.pixels[3 * i + c] ? 0 : 1;
    expect(outsideChanged).toBe(0);
    const again = await bot.replyTo(messageId!, 'same mask: a sun');
    expect(image(again.view!.imageId)).toMatchObject({
      maskId: mask.id,
      prompt: 'a sun',
      parentId: painted.id,
    });
  });

  it('parameter replies redo the image with the change', async () => {
    const seed = await bot.replyTo(gridMessage, '#1 seed 42');
    expect(image(seed.view!.imageId)).toMatchObject({
      operation: 'generate',
      seed: 42,
      prompt: 'a red apple',
      parentId: grid.cellIds[0],
    });
    const wide = await bot.replyTo(gridMessage, '#1 --ar 2:1');
    expect(image(wide.view!.imageId)).toMatchObject({ width: 88, height: 48 });
    const remove = await bot.replyTo(gridMessage, '#1 remove the leaf');
    expect(image(remove.view!.imageId)).toMatchObject({
      negativePrompt: 'worms, leaf',
      prompt: 'a red apple',
    });
    const stronger = await bot.replyTo(remove.messageId!, 'stronger');
    expect(image(stronger.view!.imageId)).toMatchObject({ strength: 0.7, parentId: grid.cellIds[0] });
    const up = await bot.replyTo(gridMessage, '#4 upscale');
    expect(image(up.view!.imageId)).toMatchObject({ operation: 'upscale', parentId: grid.cellIds[3] });
  });

  it('info shows every parameter and the lineage', async () => {
    const { view } = await bot.replyTo(gridMessage, '#3 with a hat');
    const [reply] = await bot.send({ kind: 'command', name: 'info', text: view!.imageId, ctx: bot.ctx() });
    expect(text(reply!)).toContain(`#${view!.imageId} · variation · 64×64`);
    expect(text(reply!)).toContain('Prompt: a red apple, with a hat');
    expect(text(reply!)).toContain(`Lineage: #${view!.imageId} (variation) ← #${grid.cellIds[2]} (generate)`);
  });

  it('reactions: 🔍 upscales, 3️⃣ upscales a cell, ✉️ sends the parameters', async () => {
    const zoom = await bot.run({
      kind: 'reaction',
      emoji: '3️⃣',
      target: { channelId: 'general', messageId: gridMessage },
      ctx: bot.ctx(),
    });
    expect(image(zoom.view!.imageId).parentId).toBe(grid.cellIds[2]);
    const [dm] = await bot.send({
      kind: 'reaction',
      emoji: 'envelope',
      target: { channelId: 'general', messageId: gridMessage },
      ctx: bot.ctx('bob'),
    });
    expect(dm).toMatchObject({ type: 'dm' });
    expect(text(dm!)).toContain('Seed 3');
    const ignored = await bot.send({
      kind: 'reaction',
      emoji: '🎉',
      target: { channelId: 'general', messageId: gridMessage },
      ctx: bot.ctx(),
    });
    expect(ignored).toEqual([]);
  });

  it('❌ deletes your own result, not someone else’s', async () => {
    const { messageId } = await bot.imagine('a plum --n 1');
    const [notYours] = await bot.send({
      kind: 'reaction',
      emoji: '❌',
      target: { channelId: 'general', messageId: messageId! },
      ctx: bot.ctx('bob'),
    });
    expect(text(notYours!)).toBe('Only the person who made this image can delete it.');
    const [deleted] = await bot.send({
      kind: 'reaction',
      emoji: '❌',
      target: { channelId: 'general', messageId: messageId! },
      ctx: bot.ctx(),
    });
    expect(deleted).toEqual({ type: 'delete', channelId: 'general', messageId });
  });

  it('Vary region asks where and what, then repaints', async () => {
    const [form] = await bot.send({
      kind: 'action',
      customId: encodeAction({ action: 'region', imageId: grid.imageId }),
      ctx: bot.ctx(),
    });
    expect(form?.type).toBe('modal');
    if (form?.type !== 'modal') return;
    const { view } = await bot.press(form.modal.customId, 'alice', { region: 'A1 B1', prompt: 'clouds' });
    const painted = image(view!.imageId);
    expect(bot.core.store.getMask(painted.maskId!)).toMatchObject({ source: 'cells', spec: 'A1 B1' });
  });

  it('Remix mode lets people edit the prompt before a variation', async () => {
    await bot.send({ kind: 'command', name: 'settings', text: 'remix on', ctx: bot.ctx('remixer') });
    const [form] = await bot.send({
      kind: 'action',
      customId: encodeAction({ action: 'vary', imageId: grid.imageId, cell: 2 }),
      ctx: bot.ctx('remixer'),
    });
    expect(form?.type).toBe('modal');
    if (form?.type !== 'modal') return;
    expect(form.modal.fields[0]!.value).toBe('a red apple');
    const { view } = await bot.press(form.modal.customId, 'remixer', { prompt: 'a golden apple' });
    const cells = view!.cellIds.map(image);
    expect(cells[0]).toMatchObject({ prompt: 'a golden apple', parentId: grid.cellIds[1] });
  });
});

describe('settings, limits and friendly refusals', () => {
  const say = async (name: string, body: string, userId = 'carol', isAdmin = false) =>
    text((await bot.send({ kind: 'command', name, text: body, ctx: bot.ctx(userId, { isAdmin }) }))[0]!);

  it('uses personal defaults', async () => {
    expect(await say('settings', 'steps 3')).toBe('Your default steps is now 3.');
    expect(await say('settings', 'n 1')).toBe('Your default n is now 1.');
    const { view } = await bot.imagine('a kiwi', 'carol');
    expect(image(view!.imageId)).toMatchObject({ steps: 3 });
    expect(view!.isGrid).toBe(false);
    expect(await say('settings', 'steps 500')).toBe(
      'Expected an integer 1–150 for steps but received "500".',
    );
    expect(await say('settings', '')).toContain('Your defaults: n 1 · steps 3');
  });

  it('lets admins set a blocklist, limits and channels', async () => {
    expect(await say('settings', 'admin blocklist add gore', 'carol')).toBe(
      'Only admins can change channel defaults and server limits.',
    );
    expect(await say('settings', 'admin blocklist add gore', 'admin', true)).toBe('Blocklist: gore.');
    expect(await say('imagine', 'a gore scene')).toContain("Sorry, I can't make that");
    expect(await say('settings', 'admin max-steps 10', 'admin', true)).toBe('max-steps is now 10.');
    expect(await say('imagine', 'a cat --steps 20')).toBe(
      'Expected an integer 1–10 for --steps but received "20".',
    );
    expect(await say('settings', 'admin channels add studio', 'admin', true)).toBe(
      'Enabled channels: studio.',
    );
    expect(await say('imagine', 'a cat')).toBe(
      "I don't work in this channel. Ask an admin, or try one of the channels I'm enabled in.",
    );
    await say('settings', 'admin channels clear', 'admin', true);
    await say('settings', 'admin blocklist clear', 'admin', true);
    await say('settings', 'admin max-steps off', 'admin', true);
  });

  it('gives a friendly message for every kind of bad input', async () => {
    expect(await say('imagine', '')).toMatch(/^The prompt is empty/);
    expect(await say('imagine', 'a cat --sed 4')).toMatch(/Did you mean --seed\?/);
    expect(await say('imagine', 'a cat --cfg 99')).toBe(
      'Expected a number 0–30 for --cfg but received "99".',
    );
    expect(await say('frobnicate', 'x')).toMatch(/^Unknown command "frobnicate"/);
    const [unknownMessage] = await bot.send({
      kind: 'reply',
      text: 'make it blue',
      target: { channelId: 'general', messageId: 'not-ours' },
      ctx: bot.ctx(),
    });
    expect(text(unknownMessage!)).toBe(
      "That message isn't one of my images, so I don't know what to change. Reply to an image I posted.",
    );
    const { view } = await bot.imagine('a fig --n 1');
    const notImage = await bot.send({
      kind: 'command',
      name: 'region',
      text: `${view!.imageId} top left: x`,
      ctx: bot.ctx(),
      attachment: { name: 'mask.png', size: 12, bytes: new TextEncoder().encode('not an image') },
    });
    expect(text(notImage[0]!)).toMatch(/^That mask is not an image I can read/);
    const huge = await bot.send({
      kind: 'command',
      name: 'region',
      text: `${view!.imageId} a moon`,
      ctx: bot.ctx(),
      attachment: { name: 'big.png', size: 50 * 1024 * 1024 },
    });
    expect(text(huge[0]!)).toBe('That file is 50.0 MB; masks can be at most 10 MB.');
    const badRegion = await bot.send({
      kind: 'command',
      name: 'region',
      text: `${view!.imageId} the moon: cheese`,
      ctx: bot.ctx(),
    });
    expect(text(badRegion[0]!)).toMatch(/^I don't know the region "the moon". Try one of:/);
    const [broken] = await bot.bot.handle({ kind: 'command', name: 'imagine' });
    expect(text(broken!)).toBe('Sorry, I could not understand that request.');
    const [badButton] = await bot.send({ kind: 'action', customId: 'something-else', ctx: bot.ctx() });
    expect(text(badButton!)).toMatch(/not one of mine/);
  });

  it('accepts an uploaded mask and repaints only its white area', async () => {
    const { view } = await bot.imagine('a lemon --n 1 --seed 2');
    const maskPng = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#000000' } })
      .composite([
        {
          input: await sharp({ create: { width: 150, height: 300, channels: 3, background: '#ffffff' } })
            .png()
            .toBuffer(),
          left: 150,
          top: 0,
        },
      ])
      .png()
      .toBuffer();
    const result = await bot.run({
      kind: 'command',
      name: 'region',
      text: `${view!.imageId} a leaf`,
      ctx: bot.ctx(),
      attachment: { name: 'mask.png', size: maskPng.length, bytes: maskPng },
    });
    const painted = image(result.view!.imageId);
    expect(bot.core.store.getMask(painted.maskId!)).toMatchObject({
      source: 'upload',
      width: 64,
      height: 64,
    });
  });

  it('cancel and queue report on your own jobs', async () => {
    expect(await say('cancel', '', 'dave')).toBe('You have no jobs in progress.');
    expect(await say('queue', '', 'dave')).toMatch(/^You have no jobs in progress/);
    const [queued] = await bot.send({
      kind: 'command',
      name: 'imagine',
      text: 'a slow one --steps 30',
      ctx: bot.ctx('dave'),
    });
    expect(queued?.type).toBe('queued');
    expect(await say('queue', '', 'dave')).toMatch(/^Your jobs:\n• \w+ (running|#1 in line)/);
    expect(await say('cancel', '', 'dave')).toMatch(/^Cancelled job \w+\.$/);
    await bot.core.queue.onIdle();
    if (queued?.type === 'queued') expect(bot.core.store.getJob(queued.jobId)?.state).toBe('cancelled');
    expect(await say('help', '')).toContain('/imagine a lighthouse at dusk');
  });
});

describe('after a restart', () => {
  it('buttons and replies still resolve through the store', async () => {
    const dir = tempDir();
    const first = new TestBot(dir.dir);
    const { view, messageId } = await first.imagine('a boat --seed 5');
    await first.close();
    const second = new TestBot(dir.dir);
    try {
      const up = await second.press(encodeAction({ action: 'upscale', imageId: view!.imageId, cell: 4 }));
      expect(second.core.store.getImage(up.view!.imageId)?.parentId).toBe(view!.cellIds[3]);
      const refined = await second.replyTo(messageId!, '#1 at night');
      expect(second.core.store.getImage(refined.view!.imageId)).toMatchObject({
        prompt: 'a boat, at night',
        parentId: view!.cellIds[0],
      });
    } finally {
      await second.close();
      dir.cleanup();
    }
  });
});

describe('the 2026 families through the commands, unchanged', () => {
  // One person per model: each stays well within the default of 30 jobs an hour.
  for (const model of ['sdxl-tiny', 'sd3-tiny', 'flux-schnell-tiny', 'flux-dev-tiny']) {
    it(`${model}: imagine, a refining reply, a region edit and an upscale`, async () => {
      const { view, messageId } = await bot.imagine(
        `a red apple --model ${model} --size 64x48 --seed 3`,
        model,
      );
      expect(view!.isGrid).toBe(true);
      const cells = view!.cellIds.map(image);
      expect(cells.map((c) => [c.model, c.width, c.height, c.seed])).toEqual([
        [model, 64, 48, 3],
        [model, 64, 48, 4],
        [model, 64, 48, 5],
        [model, 64, 48, 6],
      ]);
      const refined = await bot.replyTo(messageId!, '#2 make it night', model);
      expect(image(refined.view!.imageId)).toMatchObject({
        operation: 'variation',
        model,
        parentId: cells[1]!.id,
        prompt: 'a red apple, night',
      });
      const painted = await bot.replyTo(messageId!, '#1 in the top left: add a moon', model);
      const record = image(painted.view!.imageId);
      expect(record).toMatchObject({ operation: 'inpaint', model, parentId: cells[0]!.id });
      const mask = await readMask(bot.core.files.resolve(bot.core.store.getMask(record.maskId!)!.filePath), {
        width: 64,
        height: 48,
      });
      const before = await readImage(bot.core.files.resolve(cells[0]!.filePath));
      const after = await readImage(painted.view!.file);
      let outsideChanged = 0;
      for (let i = 0; i < mask.length; i++)
        if (mask[i] === 0)
          for (let c = 0; c < 3; c++)
            outsideChanged += before.pixels[3 * i + c] === after.pixels[3 * i + c] ? 0 : 1;
      expect(outsideChanged).toBe(0);
      const up = await bot.replyTo(messageId!, '#4 upscale', model);
      expect(image(up.view!.imageId)).toMatchObject({
        operation: 'upscale',
        parentId: cells[3]!.id,
        width: 256,
      });
    });
  }
});
