/**
 * Pictures people bring on Discord, through the real discord.js client against the loopback Discord:
 * the `image` option of /imagine guides img2img, a mention with a file attached gets its instruction
 * ("upscale" is ×4), a mention in reply to someone's posted picture acts on that picture, and hostile
 * files (the 20-chunk text bomb, an SVG) are refused before any decoder sees them.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscordAdapter } from '../adapters/discord/adapter.js';
import { UPLOAD_HELD_BACK } from '../commands/upload.js';
import { TestBot } from './helpers/bot.js';
import { startDiscord } from './helpers/discord.js';
import { APP, CHANNEL, DM_CHANNEL, FakeDiscord, user } from './helpers/fake-discord.js';
import { textBombPng } from './helpers/hostile-images.js';
import { watchPeakRss } from './helpers/memory.js';
import { tempDir, waitFor } from './helpers/tmp.js';
import { photoJpeg, photoPng, svgDrawing } from './helpers/upload-images.js';

const ALICE = user('960000000000000001', 'alice');
const BOB = user('960000000000000002', 'bob');
const MENTION = `<@${APP}>`;
const MODERATION_MODEL_DIR = path.resolve(import.meta.dirname, '..', 'models', 'nsfw-mobilenet-v2');

describe('Discord uploads', () => {
  const t = tempDir();
  const fake = new FakeDiscord();
  let bot: TestBot;
  let discord: DiscordAdapter;
  /** Texts flowbot sent alice privately (answers to messages go by DM). */
  const privateAnswers = () =>
    fake.of('POST', new RegExp(`^/channels/${DM_CHANNEL}/messages$`)).map((c) => String(c.body.content));

  /** The image of the index-th posted result, once the adapter recorded it. */
  async function posted(index: number) {
    await waitFor(() => fake.posted().length > index, 30_000, `result ${index + 1}`);
    const post = fake.posted()[index]!;
    await waitFor(
      () => bot.core.store.findChatMessage('discord', CHANNEL, post.messageId!)?.imageId != null,
      10_000,
      'the result record',
    );
    const record = bot.core.store.findChatMessage('discord', CHANNEL, post.messageId!)!;
    return { post, image: bot.core.store.getImage(record.imageId!)! };
  }

  /** Alice's message with `file` attached; resolves with flowbot's private answer to it. */
  async function answerTo(content: string, files: { name: string; data: Buffer }[]): Promise<string> {
    const before = privateAnswers().length;
    fake.say(ALICE, CHANNEL, content, { files });
    await waitFor(() => privateAnswers().length > before, 20_000, 'the answer');
    return privateAnswers()[before]!;
  }

  /** This channel's image filter, set as an admin would. */
  async function setFilter(policy: string) {
    await bot.send({
      kind: 'command',
      name: 'settings',
      text: `admin nsfw ${policy}`,
      ctx: bot.ctx('root', { platform: 'discord', channelId: CHANNEL, isAdmin: true }),
    });
  }

  beforeAll(async () => {
    await fake.start();
    bot = new TestBot(t.dir, { MODERATION_MODEL: MODERATION_MODEL_DIR });
    // Uploads here are allowed whatever they score, except where a test sets the filter itself.
    await setFilter('allow');
    discord = await startDiscord(fake, bot, {
      // The fake serves attachments on loopback; the real adapter fetches Discord's CDN only.
      attachmentTestOrigins: [new URL(fake.base).host],
    });
    await waitFor(() => fake.identified, 10_000, 'the gateway login');
  });

  afterAll(async () => {
    await discord.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('registers /imagine with an optional image option', () => {
    const put = fake.of('PUT', /\/commands$/)[0]!;
    const imagine = (
      put.body as unknown as { name: string; options: { name: string; type: number }[] }[]
    )[0]!;
    expect(imagine.options.find((o) => o.name === 'image')).toMatchObject({ type: 11 });
  });

  it('/imagine with an image attached makes img2img from it at its aspect ratio', async () => {
    const file = fake.attach('photo.jpg', await photoJpeg(120, 80));
    fake.interact({ user: ALICE }, 2, {
      id: '1',
      name: 'imagine',
      type: 1,
      options: [
        { name: 'prompt', type: 3, value: 'a castle at dusk --n 1 --iw 0.5' },
        { name: 'image', type: 11, value: file.id },
      ],
      resolved: { attachments: { [file.id as string]: { ...file, content_type: 'image/jpeg' } } },
    });
    const { post, image } = await posted(0);
    expect(post.body.content).toMatch(
      /Imagined from your image: "a castle at dusk" · 1 image · .* img2img 0\.75 \(--iw 0\.5\)/,
    );
    expect(image.operation).toBe('variation');
    const upload = bot.core.store.getImage(image.parentId!)!;
    expect(upload).toMatchObject({ operation: 'upload', userId: ALICE.id });
    expect(Math.abs(upload.width / upload.height - 1.5)).toBeLessThan(0.15);
    expect(fake.downloads()).toHaveLength(1);
  });

  it('a mention with a file and "upscale" posts it 4× larger; replying "undo" shows the upload again', async () => {
    const before = fake.posted().length;
    fake.say(ALICE, CHANNEL, `${MENTION} upscale`, {
      files: [{ name: 'me.png', data: await photoPng(40, 24) }],
    });
    const { post, image } = await posted(before);
    expect(image).toMatchObject({ operation: 'upscale', width: 160, height: 96 });
    expect(await sharp(post.files[0]!.data).metadata()).toMatchObject({ width: 160, height: 96 });
    const upload = bot.core.store.getImage(image.parentId!)!;
    expect(upload.operation).toBe('upload');
    fake.say(ALICE, CHANNEL, 'undo', { replyTo: post.messageId! });
    const back = await posted(before + 1);
    expect(back.image.id).toBe(upload.id);
  });

  it('a mention in reply to someone else’s picture acts on that picture', async () => {
    const before = fake.posted().length;
    const bobs = fake.say(BOB, CHANNEL, 'my sketch', {
      files: [{ name: 'sketch.png', data: await photoPng(32, 32) }],
    });
    fake.say(ALICE, CHANNEL, `${MENTION} upscale`, { replyTo: bobs });
    const { image } = await posted(before);
    expect(image).toMatchObject({ operation: 'upscale', width: 128, height: 128 });
    // The picture is now one of the conversation: its message is recorded as showing it.
    const record = bot.core.store.findChatMessage('discord', CHANNEL, bobs)!;
    expect(bot.core.store.getImage(record.imageId!)!.operation).toBe('upload');
  });

  it('a mention with a file and no words posts it back with the buttons every result has', async () => {
    const before = fake.posted().length;
    fake.say(ALICE, CHANNEL, MENTION, { files: [{ name: 'plain.png', data: await photoPng(24, 24) }] });
    const { post, image } = await posted(before);
    expect(image).toMatchObject({ operation: 'upload', width: 24, height: 24 });
    const labels = (post.body.components as { components: { label: string }[] }[]).flatMap((row) =>
      row.components.map((c) => c.label),
    );
    expect(labels).toEqual(expect.arrayContaining(['Vary (Subtle)', 'Upscale x4']));
  });

  it('the PNG with 20 large compressed text chunks is refused within 1 s and under 100 MB', async () => {
    const bomb = await textBombPng();
    const peak = watchPeakRss();
    const started = Date.now();
    const answer = await answerTo(`${MENTION} upscale`, [{ name: 'bomb.png', data: bomb }]);
    const seconds = (Date.now() - started) / 1000;
    expect(answer).toMatch(/carries more hidden metadata \(text or colour-profile data\) than I accept/);
    expect(seconds).toBeLessThan(1);
    expect(peak()).toBeLessThan(100);
  });

  it('an SVG is refused, whatever its name says', async () => {
    expect(await answerTo(`${MENTION} upscale`, [{ name: 'logo.png', data: svgDrawing() }])).toMatch(
      /^That image is an SVG, a drawing made of instructions rather than pixels/,
    );
  });

  it('a pasted link is answered, and nothing but attachments is fetched', async () => {
    const downloads = fake.downloads().length;
    const answer = await answerTo(`${MENTION} upscale ${fake.base}/attachments/uploads/1/x.png`, [
      { name: 'me.png', data: await photoPng(16, 16) },
    ]);
    expect(answer).toMatch(/^I do not open links, so I did not fetch that one\./);
    expect(fake.downloads()).toHaveLength(downloads);
  });

  it('an upload the channel filter blocks is kept for admins, never posted, and its owner told privately', async () => {
    await setFilter('block 0');
    try {
      const posts = fake.posted().length;
      const answer = await answerTo(`${MENTION} upscale`, [{ name: 'me.png', data: await photoPng(20, 20) }]);
      expect(answer).toBe(UPLOAD_HELD_BACK);
      await bot.core.queue.onIdle();
      expect(fake.posted()).toHaveLength(posts);
      const held = bot.core.store.db
        .prepare(
          "SELECT i.operation FROM image_moderation m JOIN images i ON i.id = m.image_id WHERE m.action = 'block'",
        )
        .all();
      expect(held).toContainEqual({ operation: 'upload' });
    } finally {
      await setFilter('allow');
    }
  });
});
