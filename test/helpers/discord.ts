/**
 * The real Discord adapter, started against a loopback {@link FakeDiscord} for a test's bot: the options
 * every adapter test shares, and whatever the test adds.
 */
import { DiscordAdapter, type DiscordOptions } from '../../adapters/discord/adapter.js';
import type { TestBot } from './bot.js';
import { type FakeDiscord, GUILD } from './fake-discord.js';

/** Starts the adapter for `bot` on `fake` (already started); progress edits are not throttled. */
export async function startDiscord(
  fake: FakeDiscord,
  bot: TestBot,
  extra: Partial<DiscordOptions> = {},
): Promise<DiscordAdapter> {
  const discord = new DiscordAdapter({
    bot: bot.bot,
    token: 'discord-test-token',
    apiUrl: `${fake.base}/api`,
    guildId: GUILD,
    progressIntervalMs: 0,
    ...extra,
  });
  await discord.start();
  return discord;
}
