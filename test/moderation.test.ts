/**
 * Image moderation in the core and the command layer, with the real classifier: every generated image is
 * read and its score stored before the result exists; each channel's policy (`settings admin nsfw …`,
 * spoiler by default, allow in Discord age-restricted channels) decides what the result view carries; a
 * blocked image is kept, marked, and shown to admins only. Thresholds 0 and 1 make the classifier's real
 * score land on either side without faking it.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAction } from '../commands/actions.js';
import { decideModeration } from '../commands/moderation.js';
import type { ChatContext, Reply } from '../commands/types.js';
import { TestBot } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const MODEL_DIR = path.resolve(import.meta.dirname, '..', 'models', 'nsfw-mobilenet-v2');

function text(replies: Reply[]): string {
  return replies.map((r) => ('text' in r ? r.text : r.type)).join('\n');
}

describe('image moderation', () => {
  let bot: TestBot;
  const admin = (channelId = 'general', extra: Partial<ChatContext> = {}) =>
    bot.ctx('root', { isAdmin: true, channelId, ...extra });
  const settings = (words: string, channelId = 'general') =>
    bot.send({ kind: 'command', name: 'settings', text: `admin nsfw ${words}`, ctx: admin(channelId) });
  const imagine = (channelId: string, extra: Partial<ChatContext> = {}) =>
    bot.run({
      kind: 'command',
      name: 'imagine',
      text: 'a red apple --seed 7',
      ctx: bot.ctx('alice', { channelId, ...extra }),
    });

  const tmp = tempDir('flowbot-moderation-');

  beforeAll(() => {
    bot = new TestBot(tmp.dir, { MODERATION_MODEL: MODEL_DIR });
  });
  afterAll(async () => {
    await bot.close();
    tmp.cleanup();
  });

  it('decides: the policy action at or above the threshold, allow below', () => {
    expect(decideModeration(0.7, { action: 'block', threshold: 0.5 })).toBe('block');
    expect(decideModeration(0.5, { action: 'spoiler', threshold: 0.5 })).toBe('spoiler');
    expect(decideModeration(0.49, { action: 'block', threshold: 0.5 })).toBe('allow');
    expect(decideModeration(1, { action: 'allow', threshold: 0 })).toBe('allow');
  });

  it('reads every image of a job before it is stored, per cell, and the grid takes its worst cell', async () => {
    const { view } = await imagine('cells');
    expect(view!.cellIds).toHaveLength(4);
    const cells = view!.cellIds.map((id) => bot.core.store.moderation.get(id)!);
    for (const cell of cells) {
      expect(cell.model).toBe('nsfwjs-mobilenet-v2');
      expect(cell.score).toBeCloseTo(cell.classes.Porn! + cell.classes.Hentai!, 6);
      expect(Object.values(cell.classes).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    }
    const grid = bot.core.store.moderation.get(view!.imageId)!;
    expect(grid.score).toBe(Math.max(...cells.map((c) => c.score)));
    expect(view!.moderation).toEqual({ action: 'allow', score: grid.score });
  });

  it('spoilers by default; the decision is recorded and kept when the image is shown again', async () => {
    await settings('threshold 0', 'spoil');
    const { view } = await imagine('spoil');
    expect(view!.moderation?.action).toBe('spoiler');
    expect(bot.core.store.moderation.get(view!.imageId)).toMatchObject({ action: 'spoiler', threshold: 0 });
    await settings('allow', 'spoil');
    expect(bot.bot.imageView(view!.imageId, 'again')?.moderation?.action).toBe('spoiler');
  });

  it('allows by default in a Discord age-restricted channel, unless an admin says otherwise', async () => {
    await settings('threshold 0', 'adults');
    const { view } = await imagine('adults', { platform: 'discord', channelNsfw: true });
    expect(view!.moderation?.action).toBe('allow');
    const [policy] = await settings('', 'adults');
    expect(text([policy!])).toMatch(/allow \(the default in an age-restricted channel\)/);
    await settings('block', 'adults');
    const again = await imagine('adults', { platform: 'discord', channelNsfw: true });
    expect(again.view!.moderation?.action).toBe('block');
  });

  it('blocks: no buttons, kept in the store, info, lineage and buttons for admins only', async () => {
    expect(text(await settings('block 0', 'strict'))).toMatch(/block \(set by an admin\) at threshold 0/);
    const { view } = await imagine('strict');
    expect(view!.moderation?.action).toBe('block');
    expect(view!.buttons).toEqual([]);
    expect(bot.core.store.getImage(view!.imageId)).toBeDefined();
    const owner = await bot.send({
      kind: 'command',
      name: 'info',
      text: view!.imageId,
      ctx: bot.ctx('alice'),
    });
    expect(text(owner)).toMatch(/withheld by this server's image moderation; only admins/);
    const adminInfo = await bot.send({ kind: 'command', name: 'info', text: view!.imageId, ctx: admin() });
    expect(text(adminInfo)).toMatch(
      /Moderation: block at threshold 0 · score \d\.\d{3} \(nsfwjs-mobilenet-v2: Drawing/,
    );
    const press = encodeAction({ action: 'upscale', imageId: view!.imageId, cell: 1 });
    const pressed = await bot.send({ kind: 'action', customId: press, ctx: bot.ctx('alice') });
    expect(text(pressed)).toMatch(/withheld/);
  });

  it('hides a blocked ancestor in the lineage shown to others', async () => {
    await settings('block 0', 'lineage');
    const { view } = await imagine('lineage');
    const cell = view!.cellIds[0]!;
    await settings('threshold 1', 'lineage');
    const varied = await bot.run({
      kind: 'action',
      customId: encodeAction({ action: 'upscale', imageId: cell }),
      ctx: admin('lineage'),
    });
    const child = varied.view!.imageId;
    const shown = await bot.send({ kind: 'command', name: 'info', text: child, ctx: bot.ctx('alice') });
    expect(text(shown)).toMatch(/Lineage: #\w+ \(upscale\) ← \(withheld\)/);
    const toAdmin = await bot.send({ kind: 'command', name: 'info', text: child, ctx: admin() });
    expect(text(toAdmin)).toContain(`#${cell} (generate)`);
  });

  it('answers bad policy words with the expected form', async () => {
    expect(text(await settings('hide'))).toMatch(
      /Expected allow, spoiler or block for nsfw but received "hide"/,
    );
    expect(text(await settings('spoiler 1.5'))).toMatch(
      /Expected a number 0–1 for the nsfw threshold but received "1.5"/,
    );
    const notAdmin = await bot.send({
      kind: 'command',
      name: 'settings',
      text: 'admin nsfw allow',
      ctx: bot.ctx(),
    });
    expect(text(notAdmin)).toMatch(/Only admins/);
    expect(text(await settings('reset'))).toMatch(/spoiler \(the default\) at threshold 0.6/);
  });
});
