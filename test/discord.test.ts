/**
 * The Discord adapter with the real discord.js client against a loopback Discord (REST + gateway v10).
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../adapters/discord/adapter.js';
import { encodeAction } from '../commands/actions.js';
import { waitNotice } from '../commands/wait-notices.js';

const NO_WORKER_NOTICE = waitNotice('no-worker');

import { readPngText } from '../src/pipeline/png.js';
import { TestBot } from './helpers/bot.js';
import { APP, ARTISTS_ROLE, CHANNEL, DM_CHANNEL, FakeDiscord, GUILD, user } from './helpers/fake-discord.js';
import { sleep, tempDir, waitFor } from './helpers/tmp.js';

const ALICE = user('960000000000000001', 'alice');
const ADMIN_ROLE = '980000000000000001';
const member = (u: Record<string, unknown>) => ({
  user: u,
  roles: [],
  joined_at: new Date().toISOString(),
  deaf: false,
  mute: false,
  flags: 0,
  permissions: '1071698660929',
});

describe('Discord adapter', () => {
  const t = tempDir();
  const fake = new FakeDiscord();
  /** The contents the interactions' original replies were edited to, so far. */
  const originalEdits = () => fake.of('PATCH', /\/webhooks\/.*@original/).map((c) => String(c.body.content));
  let bot: TestBot;
  let discord: DiscordAdapter;

  function interaction(type: number, data: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const id = fake.nextId();
    return {
      id,
      application_id: APP,
      type,
      data,
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
      ...extra,
    };
  }

  async function start(dataBot: TestBot): Promise<DiscordAdapter> {
    const adapter = new DiscordAdapter({
      bot: dataBot.bot,
      token: 'discord-test-token',
      apiUrl: `${fake.base}/api`,
      guildId: GUILD,
      progressIntervalMs: 0,
      adminRole: ADMIN_ROLE,
    });
    await adapter.start();
    return adapter;
  }

  /** The image of the index-th posted result (waiting for the adapter to record it after Discord answered). */
  const imageOf = async (call: { body: Record<string, unknown> } | undefined, index: number) => {
    const messageId = fake.posted()[index]!.messageId!;
    // A status message edited into the result is recorded as the job's first, as the image's once shown.
    await waitFor(
      () => bot.core.store.findChatMessage('discord', CHANNEL, messageId)?.imageId != null,
      10_000,
      'the result record',
    );
    const record = bot.core.store.findChatMessage('discord', CHANNEL, messageId)!;
    return { messageId, image: bot.core.store.getImage(record.imageId!)!, call };
  };

  beforeAll(async () => {
    await fake.start();
    bot = new TestBot(t.dir);
    discord = await start(bot);
  });

  afterAll(async () => {
    await discord.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('logs in through /gateway/bot and registers the guild commands', () => {
    expect(fake.identified).toBe(true);
    const put = fake.of('PUT', new RegExp(`/applications/${APP}/guilds/${GUILD}/commands`))[0]!;
    const names = (put.body as unknown as { name: string }[]).map((c) => c.name);
    expect(names).toEqual(['imagine', 'settings', 'info', 'cancel', 'queue', 'quota', 'help']);
  });

  it('/imagine defers within 3 s and posts a PNG with components in the channel', async () => {
    const started = Date.now();
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(2, {
        id: '1',
        name: 'imagine',
        type: 1,
        options: [
          { name: 'prompt', type: 3, value: 'a red apple' },
          { name: 'seed', type: 4, value: 3 },
        ],
      }),
    );
    await waitFor(
      () => fake.of('POST', /\/interactions\/\d+\/[^/]+\/callback/).length === 1,
      3000,
      'the deferral',
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fake.of('POST', /callback/)[0]!.body).toMatchObject({ type: 5 });
    await waitFor(() => fake.posted().length === 1, 20_000, 'the grid');
    const post = fake.posted()[0]!;
    expect(post.body.content).toMatch(new RegExp(`^<@${ALICE.id}> Imagined: "a red apple" · 4 images`));
    const file = post.files[0]!;
    expect(await sharp(file.data).metadata()).toMatchObject({ format: 'png', width: 128 });
    expect(readPngText(file.data).parameters).toContain('Seed: 3');
    const labels = (post.body.components as { components: { label: string }[] }[]).flatMap((row) =>
      row.components.map((c) => c.label),
    );
    expect(labels).toEqual(['U1', 'U2', 'U3', 'U4', '🔄', 'V1', 'V2', 'V3', 'V4', 'Vary region']);
    expect((await imageOf(post, 0)).image.operation).toBe('grid');
  });

  it('🔍 on a result posts a larger PNG', async () => {
    const { messageId } = await imageOf(undefined, 0);
    fake.dispatch('MESSAGE_REACTION_ADD', {
      user_id: ALICE.id,
      channel_id: CHANNEL,
      message_id: messageId,
      guild_id: GUILD,
      member: member(ALICE),
      emoji: { id: null, name: '🔍' },
      type: 0,
      burst: false,
    });
    await waitFor(() => fake.posted().length === 2, 20_000, 'the upscale');
    const up = await imageOf(fake.posted()[1], 1);
    // Larger than the 128 px grid message it was asked from.
    expect(up.image).toMatchObject({ operation: 'upscale', width: 256 });
    const cell = bot.core.store.getImage(up.image.parentId!)!;
    expect(cell.width).toBe(64);
  });

  it('a reply "make it night" posts a new PNG replying to it', async () => {
    const { messageId } = await imageOf(undefined, 0);
    const replyId = message(CHANNEL, 'make it night', messageId);
    await waitFor(() => fake.posted().length === 3, 20_000, 'the refined image');
    const post = fake.posted()[2]!;
    // One message: the status that answered the reply became the result, still replying to it.
    expect(post.method).toBe('PATCH');
    expect(fake.messages.get(post.messageId!)!.message_reference).toMatchObject({ message_id: replyId });
    expect((await imageOf(post, 2)).image).toMatchObject({
      operation: 'variation',
      prompt: 'a red apple, night',
    });
  });

  it('U2 and V3 act on the right cells', async () => {
    const grid = await imageOf(undefined, 0);
    const cells = (grid.image.extra as { cells: string[] }).cells;
    const message = fake.messages.get(grid.messageId)!;
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(
        3,
        {
          custom_id: encodeAction({ action: 'upscale', imageId: grid.image.id, cell: 2 }),
          component_type: 2,
        },
        { message },
      ),
    );
    await waitFor(() => fake.posted().length === 4, 20_000, 'U2');
    expect((await imageOf(fake.posted()[3], 3)).image).toMatchObject({
      operation: 'upscale',
      parentId: cells[1],
    });
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(
        3,
        { custom_id: encodeAction({ action: 'vary', imageId: grid.image.id, cell: 3 }), component_type: 2 },
        { message },
      ),
    );
    await waitFor(() => fake.posted().length === 5, 20_000, 'V3');
    const varied = (await imageOf(fake.posted()[4], 4)).image;
    expect(varied.operation).toBe('grid');
    expect(bot.core.store.getImage((varied.extra as { cells: string[] }).cells[0]!)).toMatchObject({
      operation: 'variation',
      parentId: cells[2],
    });
  });

  it('a button pressed after a restart still works', async () => {
    const grid = await imageOf(undefined, 0);
    const cells = (grid.image.extra as { cells: string[] }).cells;
    await discord.stop();
    await bot.close();
    bot = new TestBot(t.dir);
    discord = await start(bot);
    const message = fake.messages.get(grid.messageId)!;
    const before = fake.posted().length;
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(
        3,
        {
          custom_id: encodeAction({ action: 'upscale', imageId: grid.image.id, cell: 4 }),
          component_type: 2,
        },
        { message },
      ),
    );
    await waitFor(() => fake.posted().length === before + 1, 20_000, 'the upscale after restart');
    expect((await imageOf(fake.posted()[before], before)).image).toMatchObject({
      operation: 'upscale',
      parentId: cells[3],
    });
  });

  it('answers bad input privately and ignores other bots', async () => {
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(2, {
        id: '1',
        name: 'imagine',
        type: 1,
        options: [{ name: 'prompt', type: 3, value: 'a cat --stpes 3' }],
      }),
    );
    await waitFor(() => originalEdits().some((c) => c.includes('Did you mean --steps?')), 5000, 'the error');
    const posted = fake.posted().length;
    fake.dispatch('MESSAGE_CREATE', {
      id: fake.nextId(),
      channel_id: CHANNEL,
      guild_id: GUILD,
      author: { ...user('970000000000000001', 'otherbot'), bot: true },
      content: 'make it night',
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
      message_reference: {
        message_id: (await imageOf(undefined, 0)).messageId,
        channel_id: CHANNEL,
        guild_id: GUILD,
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.posted().length).toBe(posted);
  });
  /** A message from alice in a channel, optionally replying to a message. */
  function message(channelId: string, content: string, replyTo?: string) {
    const id = fake.nextId();
    fake.dispatch('MESSAGE_CREATE', {
      id,
      channel_id: channelId,
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
      type: replyTo ? 19 : 0,
      flags: 0,
      components: [],
      ...(replyTo
        ? { message_reference: { message_id: replyTo, channel_id: channelId, guild_id: GUILD } }
        : {}),
    });
    return id;
  }

  /** Files the bot posted in a channel, and the image each carries. */
  const postsIn = (channelId: string) => fake.posted(channelId);
  async function answer(channelId: string, count: number) {
    await waitFor(() => postsIn(channelId).length === count, 20_000, `post ${count} in ${channelId}`);
    const post = postsIn(channelId)[count - 1]!;
    await waitFor(
      () => bot.core.store.findChatMessage('discord', channelId, post.messageId!)?.imageId != null,
      10_000,
      'the record',
    );
    const imageId = bot.core.store.findChatMessage('discord', channelId, post.messageId!)!.imageId!;
    return {
      messageId: post.messageId!,
      id: imageId,
      image: bot.core.store.getImage(imageId)!,
      bytes: post.files[0]!.data,
    };
  }
  const content = (call: { body: Record<string, unknown> }) => String(call.body.content ?? '');
  /** Messages the bot posted in a channel since the call with index `from`. */
  const postsTo = (channelId: string, from: number) =>
    fake.calls.slice(from).filter((c) => c.method === 'POST' && c.path === `/channels/${channelId}/messages`);
  const storedBytes = (id: string) =>
    readFileSync(bot.core.files.resolve(bot.core.store.getImage(id)!.filePath));

  it('a conversation chains by replies: make it night, more stars, undo, undo, redo', async () => {
    const root = await imageOf(undefined, 0);
    const rootCell = (root.image.extra as { cells: string[] }).cells[0]!;
    let count = fake.posted().length;
    const night = await (async () => {
      message(CHANNEL, '#1 make it night', root.messageId);
      return answer(CHANNEL, ++count);
    })();
    expect(night.image).toMatchObject({ parentId: rootCell, prompt: 'a red apple, night' });
    message(CHANNEL, 'more stars', night.messageId);
    const stars = await answer(CHANNEL, ++count);
    expect(stars.image).toMatchObject({ parentId: night.id });
    message(CHANNEL, 'undo', stars.messageId);
    const back = await answer(CHANNEL, ++count);
    expect(back.id).toBe(night.id);
    expect(back.bytes.equals(storedBytes(night.id))).toBe(true);
    message(CHANNEL, 'undo', back.messageId);
    const backAgain = await answer(CHANNEL, ++count);
    expect(backAgain.id).toBe(rootCell);
    expect(backAgain.bytes.equals(storedBytes(rootCell))).toBe(true);
    message(CHANNEL, 'redo', backAgain.messageId);
    expect((await answer(CHANNEL, ++count)).id).toBe(night.id);
  });

  it('a conversation chains in a thread: plain messages act on its latest image', async () => {
    const root = await imageOf(undefined, 0);
    const rootCell = (root.image.extra as { cells: string[] }).cells[0]!;
    // A thread started from the grid message: its id is the message's.
    const thread = root.messageId;
    fake.dispatch('THREAD_CREATE', {
      id: thread,
      type: 11,
      guild_id: GUILD,
      parent_id: CHANNEL,
      name: 'apple',
      owner_id: ALICE.id,
      thread_metadata: {
        archived: false,
        auto_archive_duration: 1440,
        archive_timestamp: new Date().toISOString(),
        locked: false,
      },
      member_count: 1,
      message_count: 0,
      newly_created: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    message(thread, '#1 make it night');
    const night = await answer(thread, 1);
    expect(night.image).toMatchObject({ parentId: rootCell, prompt: 'a red apple, night' });
    message(thread, 'more stars');
    const stars = await answer(thread, 2);
    expect(stars.image).toMatchObject({ parentId: night.id });
    message(thread, 'undo');
    const back = await answer(thread, 3);
    expect(back.id).toBe(night.id);
    expect(back.bytes.equals(storedBytes(night.id))).toBe(true);
    message(thread, 'undo');
    expect((await answer(thread, 4)).id).toBe(rootCell);
    message(thread, 'redo');
    expect((await answer(thread, 5)).id).toBe(night.id);
  });
  it('with settings private on, results arrive by DM', async () => {
    const bob = user('960000000000000002', 'bob');
    await bot.bot.handle({
      kind: 'command',
      name: 'settings',
      text: 'private on',
      ctx: { platform: 'discord', userId: bob.id as string, channelId: CHANNEL, isAdmin: false },
    });
    const dm = '950000000000000001';
    const before = postsIn(dm).length;
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(
        2,
        { id: '1', name: 'imagine', type: 1, options: [{ name: 'prompt', type: 3, value: 'a pear --n 1' }] },
        { member: member(bob) },
      ),
    );
    const posted = await answer(dm, before + 1);
    expect(posted.image).toMatchObject({ userId: bob.id, prompt: 'a pear' });
    expect(fake.of('POST', /\/users\/@me\/channels$/).at(-1)!.body).toMatchObject({ recipient_id: bob.id });
  });
  it('admins are members with Manage Server or DISCORD_ADMIN_ROLE', async () => {
    const settings = (who: Record<string, unknown>) => {
      fake.dispatch(
        'INTERACTION_CREATE',
        interaction(
          2,
          {
            id: '2',
            name: 'settings',
            type: 1,
            options: [{ name: 'what', type: 3, value: 'admin max-n 2' }],
          },
          { member: who },
        ),
      );
    };
    const answered = (text: string) =>
      waitFor(() => originalEdits().some((c) => c.includes(text)), 5000, text);
    settings(member(ALICE));
    await answered('Only admins can change channel defaults and server limits.');
    settings({ ...member(user('960000000000000003', 'carol')), roles: [ADMIN_ROLE] });
    await answered('max-n is now 2.');
    settings({ ...member(user('960000000000000004', 'dave')), permissions: String(1071698660929n | 32n) });
    await waitFor(
      () => originalEdits().filter((c) => c.includes('max-n is now 2.')).length === 2,
      5000,
      'the second',
    );
    await bot.bot.handle({
      kind: 'command',
      name: 'settings',
      text: 'admin max-n reset',
      ctx: { platform: 'discord', userId: 'x', channelId: CHANNEL, isAdmin: true },
    });
  });
  it('pings nobody a prompt or reply names: "add @everyone and <@&ROLE>" leaves only the owner mentionable', async () => {
    const role = `<@&${ADMIN_ROLE}>`;
    const from = fake.calls.length;
    const channelPosts = () => postsIn(CHANNEL).length;
    let posts = channelPosts();
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(2, {
        id: '1',
        name: 'imagine',
        type: 1,
        options: [{ name: 'prompt', type: 3, value: `a cat @everyone ${role} --n 1` }],
      }),
    );
    const first = await answer(CHANNEL, ++posts);
    message(CHANNEL, `add @everyone and ${role}`, first.messageId);
    const added = await answer(CHANNEL, ++posts);
    expect(added.image.prompt).toContain('@everyone');
    // Text answers go by DM, and to the channel when the person takes no DMs.
    message(CHANNEL, `change the @here to ${role}`, added.messageId);
    await waitFor(() => postsTo(DM_CHANNEL, from).some((c) => /isn't in the prompt/.test(content(c))));
    fake.refuseDirectMessages = true;
    try {
      message(CHANNEL, `change the @here to ${role} @everyone`, added.messageId);
      await waitFor(() =>
        postsTo(CHANNEL, from).some((c) => content(c).startsWith(`<@${ALICE.id}> "@here" isn't`)),
      );
    } finally {
      fake.refuseDirectMessages = false;
    }
    await bot.core.queue.onIdle();
    const said = fake.calls
      .slice(from)
      .filter((c) => ['POST', 'PATCH'].includes(c.method) && typeof c.body.content === 'string');
    // The scenario reached every kind of message: interaction edits, status lines, results, DMs, fallbacks.
    expect(said.some((c) => c.path.includes('/webhooks/') && content(c).includes('@everyone'))).toBe(true);
    expect(
      said.filter((c) => c.path.startsWith(`/channels/${CHANNEL}/messages`)).length,
    ).toBeGreaterThanOrEqual(4);
    expect(said.some((c) => c.path === `/channels/${DM_CHANNEL}/messages`)).toBe(true);
    for (const call of said) {
      const allowed = call.body.allowed_mentions as { parse?: string[]; users?: string[]; roles?: string[] };
      expect(allowed, `${call.method} ${call.path}: ${content(call)}`).toBeDefined();
      expect(allowed.parse ?? []).toEqual([]);
      expect(allowed.roles ?? []).toEqual([]);
      // The owner, and only the owner, where the message names them.
      expect(allowed.users ?? []).toEqual(content(call).startsWith(`<@${ALICE.id}>`) ? [ALICE.id] : []);
    }
  });
  it('tells the person in the status message when their job waits for an image worker', async () => {
    bot.core.queue.setConcurrency(0); // what the Redis path does while no worker is running
    const before = fake.posted().length;
    try {
      fake.dispatch(
        'INTERACTION_CREATE',
        interaction(2, {
          id: '1',
          name: 'imagine',
          type: 1,
          options: [{ name: 'prompt', type: 3, value: 'a waiting apple' }],
        }),
      );
      await waitFor(() => bot.core.queue.waitingCount === 1, 5000, 'the queued job');
      const jobId = bot.core.queue.waitingOrder()[0]!.id;
      // The adapter follows the job once its queued reply is shown; a later notice edits that reply.
      await waitFor(
        () => originalEdits().some((c) => c.includes('a waiting apple')),
        5000,
        'the queued reply',
      );
      await sleep(100);
      bot.core.queue.notify(jobId, 'no-worker');
      await waitFor(() => originalEdits().includes(`⏳ ${NO_WORKER_NOTICE}`), 5000, 'the notice');
    } finally {
      bot.core.queue.setConcurrency(1);
    }
    await waitFor(() => fake.posted().length === before + 1, 20_000, 'the grid');
  });
  it('a model restricted to a role is refused to members without it, and per-role quotas hold', async () => {
    const command = (name: string, options: Record<string, unknown>[], who: Record<string, unknown>) =>
      fake.dispatch(
        'INTERACTION_CREATE',
        interaction(2, { id: '3', name, type: 1, options }, { member: who }),
      );
    const answered = (text: string | RegExp) =>
      waitFor(
        () => originalEdits().some((c) => (typeof text === 'string' ? c.includes(text) : text.test(c))),
        10_000,
        String(text),
      );
    const carol = { ...member(user('960000000000000003', 'carol')), roles: [ADMIN_ROLE] };
    const erin = { ...member(user('960000000000000005', 'erin')), roles: [ARTISTS_ROLE] };
    const settings = (value: string) => command('settings', [{ name: 'what', type: 3, value }], carol);
    const imagine = (value: string, who: Record<string, unknown>) =>
      command('imagine', [{ name: 'prompt', type: 3, value }], who);
    settings(`admin model sd-tiny roles <@&${ARTISTS_ROLE}>`);
    await answered(`sd-tiny is now for members of <@&${ARTISTS_ROLE}>.`);
    settings(`admin quota 1/day <@&${ARTISTS_ROLE}>`);
    await answered(`Members of <@&${ARTISTS_ROLE}> may now queue 1 job a day.`);
    try {
      imagine('a locked cat --model sd-tiny --n 1', member(ALICE));
      await answered(
        `The model sd-tiny is limited to members of <@&${ARTISTS_ROLE}> here. It opens to you with one of those roles; ask an admin.`,
      );
      const before = fake.posted().length;
      imagine('an artist cat --model sd-tiny --n 1', erin);
      await waitFor(() => fake.posted().length === before + 1, 20_000, 'the artist’s image');
      expect((await imageOf(undefined, before)).image).toMatchObject({
        model: 'sd-tiny',
        userId: '960000000000000005',
      });
      imagine('another artist cat --model sd-tiny --n 1', erin);
      await answered(
        new RegExp(
          `^You've used your daily quota of 1 job \\(for <@&${ARTISTS_ROLE}>\\)\\. It resets at 00:00 UTC`,
        ),
      );
      command('quota', [], erin);
      await answered(new RegExp(`^Today: 1 of 1 job used \\(quota for <@&${ARTISTS_ROLE}>\\), 0 left`));
    } finally {
      settings('admin model sd-tiny everyone');
      await answered('sd-tiny is open to everyone now.');
      settings(`admin quota off <@&${ARTISTS_ROLE}>`);
      await answered(`<@&${ARTISTS_ROLE}> has no quota of its own now.`);
    }
  });

  it('a permutation answers each job: the first in the reply, the others in follow-ups', async () => {
    const before = fake.posted().length;
    const followUps = () => fake.of('POST', /^\/webhooks\/\d+\/[^/]+$/).length;
    const followed = followUps();
    fake.dispatch(
      'INTERACTION_CREATE',
      interaction(2, {
        id: '1',
        name: 'imagine',
        type: 1,
        options: [{ name: 'prompt', type: 3, value: '{green, yellow} pear --n 1 --seed 5' }],
      }),
    );
    await waitFor(() => fake.posted().length === before + 2, 30_000, 'both results');
    expect(followUps()).toBe(followed + 1);
    const prompts = await Promise.all(
      [0, 1].map(async (i) => (await imageOf(undefined, before + i)).image.prompt),
    );
    expect(prompts.sort()).toEqual(['green pear', 'yellow pear']);
  });
});
