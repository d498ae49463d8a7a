/**
 * Image moderation's age-restricted default through the real Discord adapter: discord.js reads the
 * channel's NSFW mark (from the loopback gateway), the adapter passes it in the event's context, and a
 * result in an age-restricted channel is allowed where elsewhere it would be a spoiler. Threshold 0
 * puts the real classifier's score over the line without faking it.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscordAdapter } from '../adapters/discord/adapter.js';
import { TestBot } from './helpers/bot.js';
import { startDiscord } from './helpers/discord.js';
import { CHANNEL, FakeDiscord, GUILD, user } from './helpers/fake-discord.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const ALICE = user('960000000000000001', 'alice');
const MODEL_DIR = path.resolve(import.meta.dirname, '..', 'models', 'nsfw-mobilenet-v2');

describe('image moderation on Discord', () => {
  const t = tempDir();
  const fake = new FakeDiscord();
  let bot: TestBot;
  let discord: DiscordAdapter;

  function imagine(seed: number) {
    fake.slash({ user: ALICE }, 'imagine', [
      { name: 'prompt', type: 3, value: 'a red apple' },
      { name: 'seed', type: 4, value: seed },
    ]);
  }

  /**
   * Marks the channel age-restricted (or not), as Discord announces it on the gateway; discord.js handles
   * gateway events in order, so the next interaction sees it.
   */
  function setAgeRestricted(nsfw: boolean) {
    fake.dispatch('CHANNEL_UPDATE', {
      id: CHANNEL,
      type: 0,
      guild_id: GUILD,
      name: 'general',
      position: 0,
      permission_overwrites: [],
      nsfw,
      parent_id: null,
    });
  }

  /** The moderation decision of the index-th posted result. */
  async function decisionOf(index: number) {
    await waitFor(() => fake.posted().length > index, 20_000, 'the result');
    const messageId = fake.posted()[index]!.messageId!;
    await waitFor(
      () => bot.core.store.findChatMessage('discord', CHANNEL, messageId)?.imageId != null,
      10_000,
      'the result record',
    );
    const record = bot.core.store.findChatMessage('discord', CHANNEL, messageId)!;
    return bot.core.store.moderation.get(record.imageId!)?.action;
  }

  beforeAll(async () => {
    await fake.start();
    bot = new TestBot(t.dir, { MODERATION_MODEL: MODEL_DIR });
    await bot.send({
      kind: 'command',
      name: 'settings',
      text: 'admin nsfw threshold 0',
      ctx: bot.ctx('root', { platform: 'discord', channelId: CHANNEL, isAdmin: true }),
    });
    discord = await startDiscord(fake, bot);
  });

  afterAll(async () => {
    await discord.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('allows in an age-restricted channel and spoilers once the mark is gone', async () => {
    setAgeRestricted(true);
    imagine(1);
    expect(await decisionOf(0)).toBe('allow');
    setAgeRestricted(false);
    imagine(2);
    expect(await decisionOf(1)).toBe('spoiler');
  }, 60_000);
});
