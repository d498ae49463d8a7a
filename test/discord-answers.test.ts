/**
 * Issue 23, the user-facing part through the real Discord adapter: exact edits replied to a result are
 * posted, and bad input to a slash command is answered ephemerally (flags 64 in the payload).
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../adapters/discord/adapter.js';
import { createBot } from '../commands/index.js';
import { saveImage } from '../src/jobs.js';
import { readImage } from '../src/pipeline/image.js';
import { TestBot } from './helpers/bot.js';
import { APP, CHANNEL, FakeDiscord, GUILD, user } from './helpers/fake-discord.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const ALICE = user('960000000000000011', 'alice');
const EPHEMERAL = 64;
const member = (u: Record<string, unknown>) => ({
  user: u,
  roles: [],
  joined_at: new Date().toISOString(),
  deaf: false,
  mute: false,
  flags: 0,
  permissions: '0',
});

describe('Discord answers', () => {
  const t = tempDir();
  const fake = new FakeDiscord();
  let bot: TestBot;
  let discord: DiscordAdapter;

  function slashCommand(name: string, options: Record<string, unknown>[]) {
    const id = fake.nextId();
    fake.dispatch('INTERACTION_CREATE', {
      id,
      application_id: APP,
      type: 2,
      data: { id: '1', name, type: 1, options },
      guild_id: GUILD,
      channel_id: CHANNEL,
      channel: { id: CHANNEL, type: 0, guild_id: GUILD, name: 'general' },
      member: member(ALICE),
      token: `token-${id}`,
      version: 1,
      app_permissions: '1071698660929',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: {},
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
    });
    return id;
  }

  function reply(content: string, replyTo: string) {
    fake.dispatch('MESSAGE_CREATE', {
      id: fake.nextId(),
      channel_id: CHANNEL,
      guild_id: GUILD,
      author: ALICE,
      member: { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 },
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      type: 19,
      flags: 0,
      components: [],
      message_reference: { message_id: replyTo, channel_id: CHANNEL, guild_id: GUILD },
    });
  }

  /** The count-th file the bot posted in the channel, once the adapter recorded it. */
  async function result(count: number) {
    await waitFor(() => fake.posted().length >= count, 30_000, `post ${count}`);
    const post = fake.posted()[count - 1]!;
    await waitFor(
      () => bot.core.store.findChatMessage('discord', CHANNEL, post.messageId!)?.imageId != null,
      10_000,
      'the record',
    );
    return { messageId: post.messageId!, bytes: post.files[0]!.data };
  }

  const meanPixel = async (png: Buffer) => {
    const { channels } = await sharp(png).stats();
    return channels.slice(0, 3).map((c) => c.mean);
  };

  beforeAll(async () => {
    await fake.start();
    bot = new TestBot(t.dir);
    discord = new DiscordAdapter({
      // The editor link as adapters/main.ts makes it without PUBLIC_URL: a path for the playground only.
      bot: createBot(bot.core, (imageId, userId, platform, channelId) =>
        platform === 'web' ? `/editor?image=${imageId}&user=${userId}&channel=${channelId}` : undefined,
      ),
      token: 'discord-test-token',
      apiUrl: `${fake.base}/api`,
      guildId: GUILD,
      progressIntervalMs: 0,
    });
    await discord.start();
  });

  afterAll(async () => {
    await discord.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('replies "darker", "mirror" and "black and white" to a result post the edited image', async () => {
    slashCommand('imagine', [{ name: 'prompt', type: 3, value: 'a red apple --n 1 --seed 5' }]);
    const original = await result(1);
    reply('darker', original.messageId);
    const darker = await result(2);
    const [r0, g0, b0] = await meanPixel(original.bytes);
    const [r1, g1, b1] = await meanPixel(darker.bytes);
    expect(r1! + g1! + b1!).toBeLessThan(r0! + g0! + b0!);

    reply('mirror', original.messageId);
    const mirrored = await result(3);
    const flopped = await sharp(original.bytes).flop().raw().toBuffer();
    expect(Buffer.from(await sharp(mirrored.bytes).raw().toBuffer()).equals(flopped)).toBe(true);

    reply('black and white', original.messageId);
    const grey = await result(4);
    const pixels = await sharp(grey.bytes).removeAlpha().raw().toBuffer();
    for (let i = 0; i < pixels.length; i += 3) {
      expect(pixels[i]).toBe(pixels[i + 1]);
      expect(pixels[i + 1]).toBe(pixels[i + 2]);
    }
  });

  it('a reply "darker" to a grid posts the edited grid', async () => {
    const before = fake.posted().length;
    slashCommand('imagine', [{ name: 'prompt', type: 3, value: 'a red apple --seed 6' }]);
    const grid = await result(before + 1);
    reply('darker', grid.messageId);
    const darker = await result(before + 2);
    expect(darker.bytes.equals(grid.bytes)).toBe(false);
  });

  it('an image with no job (made before edits were jobs) can be edited, undone to and redone', async () => {
    const before = fake.posted().length;
    const first = await result(1);
    const stored = bot.core.store.getImage(
      bot.core.store.findChatMessage('discord', CHANNEL, first.messageId)!.imageId!,
    )!;
    // As an exact edit was stored before it became a job: no job, so no platform to go by.
    const old = await saveImage(bot.core, await readImage(bot.core.files.resolve(stored.filePath)), {
      operation: 'edit',
      prompt: stored.prompt,
      negativePrompt: '',
      seed: stored.seed,
      steps: stored.steps,
      guidance: stored.guidance,
      scheduler: stored.scheduler,
      model: stored.model,
      parentId: null,
      userId: ALICE.id as string,
      cell: null,
    });
    const messageId = fake.nextId();
    bot.core.store.recordChatMessage({ platform: 'discord', channelId: CHANNEL, messageId, imageId: old.id });
    reply('mirror', messageId);
    const mirrored = await result(before + 1);
    reply('undo', mirrored.messageId);
    const back = await result(before + 2);
    expect(bot.core.store.findChatMessage('discord', CHANNEL, back.messageId)!.imageId).toBe(old.id);
    // Discord takes only absolute links: no button may carry a path.
    const links = (fake.posted().at(-1)!.body.components as { components: { url?: string }[] }[])
      .flatMap((row) => row.components)
      .filter((c) => c.url !== undefined);
    expect(links).toEqual([]);
  });

  it('a slash command with bad input is answered privately: the deferral carries flags 64', async () => {
    const id = slashCommand('imagine', [{ name: 'prompt', type: 3, value: 'a cat --stpes 3' }]);
    const callback = new RegExp(`/interactions/${id}/[^/]+/callback$`);
    await waitFor(() => fake.of('POST', callback).length === 1, 5000, 'the deferral');
    const deferral = fake.of('POST', callback)[0]!.body as { type: number; data?: { flags?: number } };
    expect(deferral.type).toBe(5);
    expect((deferral.data?.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
    const edits = () => fake.of('PATCH', new RegExp(`/webhooks/${APP}/token-${id}/messages/@original$`));
    await waitFor(() => edits().length > 0, 5000, 'the answer');
    // Nothing went to the channel for everyone to see.
    expect(
      fake
        .of('POST', new RegExp(`/channels/${CHANNEL}/messages$`))
        .some((c) => /stpes|steps/.test(String(c.body.content))),
    ).toBe(false);
  });

  it('a job asked by slash command shows its status privately and its result publicly', async () => {
    const before = fake.posted().length;
    const id = slashCommand('imagine', [{ name: 'prompt', type: 3, value: 'a green pear --n 1' }]);
    await result(before + 1);
    const deferral = fake.of('POST', new RegExp(`/interactions/${id}/[^/]+/callback$`))[0]!.body as {
      data?: { flags?: number };
    };
    expect((deferral.data?.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
    const post = fake.posted()[before]!;
    expect(post.path).toBe(`/channels/${CHANNEL}/messages`);
    expect(Number(post.body.flags ?? 0) & EPHEMERAL).toBe(0);
  });

  it("a permutation's second job gets its status in a private follow-up", async () => {
    const before = fake.posted().length;
    const id = slashCommand('imagine', [
      { name: 'prompt', type: 3, value: '{green, yellow} plum --n 1 --seed 7' },
    ]);
    await result(before + 2);
    const followUps = fake.of('POST', new RegExp(`^/webhooks/${APP}/token-${id}$`));
    expect(followUps).toHaveLength(1);
    expect(Number(followUps[0]!.body.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
  });
});
