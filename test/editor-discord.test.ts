/**
 * The mask editor for an image that lives on Discord: the drawing comes from the web page, the job's
 * status message goes to the Discord channel (through Delivery) and becomes the result, as every job's
 * does there: one message.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscordAdapter } from '../adapters/discord/adapter.js';
import { WebAdapter } from '../adapters/web/server.js';
import { LinkSigner } from '../src/links.js';
import { TestBot } from './helpers/bot.js';
import { startDiscord } from './helpers/discord.js';
import { APP, CHANNEL, FakeDiscord, user } from './helpers/fake-discord.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const ALICE = user('960000000000000031', 'alice');

describe('the mask editor for a Discord image', () => {
  const t = tempDir();
  const fake = new FakeDiscord();
  const signer = new LinkSigner('test-secret-0123456789');
  let bot: TestBot;
  let discord: DiscordAdapter;
  let web: WebAdapter;
  let origin: string;

  /** flowbot's messages in the channel that are still there. */
  const shown = () =>
    [...fake.messages.values()].filter(
      (m) =>
        (m.author as { id: string }).id === APP &&
        m.channel_id === CHANNEL &&
        !fake.deleted.has(m.id as string),
    );

  beforeAll(async () => {
    await fake.start();
    bot = new TestBot(t.dir);
    discord = await startDiscord(fake, bot);
    web = new WebAdapter({ bot: bot.bot, signer, host: '127.0.0.1', port: 0 });
    origin = new URL(await web.listen()).origin;
  });

  afterAll(async () => {
    await web.close();
    await discord.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('posts a status in the channel that becomes the repainted result', async () => {
    fake.slash({ user: ALICE }, 'imagine', [
      { name: 'prompt', type: 3, value: 'a red apple --n 1 --steps 2' },
    ]);
    await waitFor(() => fake.posted().length === 1, 30_000, 'the result');
    const post = fake.posted()[0]!;
    await waitFor(
      () => bot.core.store.findChatMessage('discord', CHANNEL, post.messageId!)?.imageId != null,
      10_000,
      'its record',
    );
    const image = bot.core.store.getImage(
      bot.core.store.findChatMessage('discord', CHANNEL, post.messageId!)!.imageId!,
    )!;
    await bot.core.queue.onIdle();
    // The slash command's private status is deleted once the result is posted, which may come after
    // the queue is idle: count from when only the result is left.
    await waitFor(() => shown().length === 1, 10_000, 'only the result left');
    const before = shown().length;
    const statuses = () => fake.of('POST', new RegExp(`^/channels/${CHANNEL}/messages$`)).length;
    const posts = statuses();
    const mask = await sharp({
      create: { width: image.width, height: image.height, channels: 3, background: '#000000' },
    })
      .composite([
        {
          input: {
            create: {
              width: image.width >> 1,
              height: image.height >> 1,
              channels: 3,
              background: '#ffffff',
            },
          },
          left: 0,
          top: 0,
        },
      ])
      .png()
      .toBuffer();
    const answer = await fetch(`${origin}/api/editor`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({
        query: signer.query(image.id, ALICE.id as string, 'discord', CHANNEL),
        prompt: 'a moon',
        mask: `data:image/png;base64,${mask.toString('base64')}`,
      }),
    });
    expect(answer.status).toBe(200);
    // The status is posted in the channel before the job ends…
    expect(statuses()).toBe(posts + 1);
    const status = fake.of('POST', new RegExp(`^/channels/${CHANNEL}/messages$`)).at(-1)!;
    expect(status.files).toHaveLength(0);
    // …and becomes the result: one more message in all, carrying the repainted image.
    await waitFor(() => fake.posted().length === 2, 30_000, 'the repainted result');
    await bot.core.queue.onIdle();
    expect(shown()).toHaveLength(before + 1);
    const result = fake.posted()[1]!;
    expect(result.files.some((f) => /^flowbot-\w+\.png$/.test(f.name))).toBe(true);
    // The message's record gets its image once the edit of the status is acknowledged.
    const imageOf = () =>
      bot.core.store.findChatMessage('discord', CHANNEL, result.messageId!)?.imageId ?? undefined;
    await waitFor(() => imageOf() !== undefined, 10_000, 'the result message record');
    expect(bot.core.store.getImage(imageOf()!)).toMatchObject({
      operation: 'inpaint',
      parentId: image.id,
    });
  }, 60_000);
});
