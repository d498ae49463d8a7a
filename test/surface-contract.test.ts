/**
 * The contract every chat surface keeps, written once and run on Discord, Slack and the playground through
 * their real adapters and the loopback fakes: imagine (progress, then one message that carries the
 * result), an exact edit, a question, a private error, a private result, cancel, and image moderation
 * (spoiler: hidden or blurred; block: nothing posted, the owner told privately). A new platform adds a
 * driver to DRIVERS and passes the same scenario.
 */

import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { get } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../adapters/discord/adapter.js';
import { SlackAdapter } from '../adapters/slack/adapter.js';
import { WebAdapter } from '../adapters/web/server.js';
import { HELD_BACK_NOTICE } from '../commands/delivery.js';
import type { Place, Platform } from '../commands/surface.js';
import { LinkSigner } from '../src/links.js';
import { TestBot } from './helpers/bot.js';
import { APP, CHANNEL, DM_CHANNEL, FakeDiscord, GUILD, user } from './helpers/fake-discord.js';
import { FakeSlack } from './helpers/fake-slack.js';
import { send } from './helpers/http.js';
import { sleep, tempDir, waitFor } from './helpers/tmp.js';

/** A message flowbot shows in the channel: its text and the files it carries (a thread's included). */
interface Shown {
  readonly id: string;
  readonly text: string;
  readonly files: readonly string[];
}

/** One surface, driven through its real adapter and observed through its fake. */
interface Driver {
  readonly name: string;
  readonly platform: Platform;
  /** Whether results can go to their owner alone (a DM). */
  readonly hasPrivatePlace: boolean;
  /** Where the person who asks is. */
  readonly place: Place;
  start(bot: TestBot): Promise<void>;
  stop(): Promise<void>;
  imagine(text: string): Promise<void>;
  reply(messageId: string, text: string): Promise<void>;
  command(name: string, text: string): Promise<void>;
  channel(): Promise<Shown[]>;
  /** Texts the person alone saw (ephemeral answers, DMs). */
  privateTexts(): Promise<string[]>;
  /** Files sent to the person alone. */
  privateFiles(): string[];
  /** How many progress updates the job's status showed. */
  progressShown(): number;
}

const SLACK_SECRET = 'slack-signing-secret-for-contract';

/** Waits until an asynchronous `check` holds, polling; throws after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}
const PROGRESS = /[█░]/;
const MODERATION_MODEL_DIR = path.resolve(import.meta.dirname, '..', 'models', 'nsfw-mobilenet-v2');

function discordDriver(): Driver {
  const fake = new FakeDiscord();
  const alice = user('960000000000000001', 'alice');
  let adapter: DiscordAdapter;
  const interaction = (name: string, options: { name: string; type: number; value: unknown }[]) =>
    fake.slash({ user: alice }, name, options);
  const bots = () =>
    [...fake.messages.values()].filter(
      (m) => (m.author as { id: string }).id === APP && !fake.deleted.has(m.id as string),
    );
  const shown = (m: Record<string, unknown>): Shown => ({
    id: m.id as string,
    text: String(m.content ?? ''),
    files: (m.attachments as { filename: string }[]).map((a) => a.filename),
  });
  const isPrivate = (m: Record<string, unknown>) =>
    ((m.flags as number) & 64) !== 0 || m.channel_id === DM_CHANNEL;
  return {
    name: 'Discord',
    platform: 'discord',
    hasPrivatePlace: true,
    place: { userId: alice.id, channelId: CHANNEL },
    async start(bot) {
      await fake.start();
      adapter = new DiscordAdapter({
        bot: bot.bot,
        token: 'discord-contract-token',
        apiUrl: `${fake.base}/api`,
        guildId: GUILD,
        progressIntervalMs: 0,
      });
      await adapter.start();
    },
    async stop() {
      await adapter.stop();
      await fake.stop();
    },
    async imagine(text) {
      interaction('imagine', [{ name: 'prompt', type: 3, value: text }]);
    },
    async reply(messageId, text) {
      fake.say(alice, CHANNEL, text, { replyTo: messageId });
    },
    async command(name, text) {
      const argument = name === 'cancel' ? 'job' : 'what';
      interaction(name, [{ name: argument, type: 3, value: text }]);
    },
    async channel() {
      return bots()
        .filter((m) => m.channel_id === CHANNEL && !isPrivate(m))
        .map(shown);
    },
    async privateTexts() {
      return bots()
        .filter(isPrivate)
        .map((m) => String(m.content ?? ''));
    },
    privateFiles() {
      return bots()
        .filter((m) => m.channel_id === DM_CHANNEL)
        .flatMap((m) => shown(m).files);
    },
    progressShown() {
      return fake.calls.filter((c) => c.method === 'PATCH' && PROGRESS.test(String(c.body.content ?? '')))
        .length;
    },
  };
}

function slackDriver(): Driver {
  const fake = new FakeSlack();
  let adapter: SlackAdapter;
  let url = '';
  const acked: string[] = [];
  const post = async (body: string, type: string) => {
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': type,
        'x-slack-signature': signature,
        'x-slack-request-timestamp': String(timestamp),
      },
      body,
    });
    const text = await res.text();
    if (text.startsWith('{')) {
      const answer = JSON.parse(text) as { response_type?: string; text?: string };
      if (answer.response_type === 'ephemeral' && answer.text) acked.push(answer.text);
    }
  };
  const slash = (command: string, text: string) =>
    post(
      new URLSearchParams({
        command,
        text,
        user_id: 'U1',
        channel_id: 'C1',
        team_id: 'T1',
        trigger_id: 'tr',
      }).toString(),
      'application/x-www-form-urlencoded',
    );
  /** Each uploaded file: its name, channel, thread and the ts of the message that shares it. */
  const files = () =>
    fake.of('files.completeUploadExternal').flatMap((c) =>
      (c.args.files as { id: string }[]).map((f) => ({
        name: fake.fileNames.get(f.id) ?? f.id,
        channel: String(c.args.channel_id),
        thread: c.args.thread_ts === undefined ? undefined : String(c.args.thread_ts),
        ts: fake.shareTsOf(f.id) ?? f.id,
      })),
    );
  const deleted = () => new Set(fake.of('chat.delete').map((c) => String(c.args.ts)));
  const latestText = (ts: string, first: string) =>
    String(
      fake
        .of('chat.update')
        .filter((c) => c.args.ts === ts)
        .at(-1)?.args.text ?? first,
    );
  return {
    name: 'Slack',
    platform: 'slack',
    hasPrivatePlace: true,
    place: { userId: 'U1', channelId: 'C1' },
    async start(bot) {
      const base = await fake.start();
      adapter = new SlackAdapter({
        bot: bot.bot,
        botToken: 'xoxb-contract',
        signingSecret: SLACK_SECRET,
        host: '127.0.0.1',
        port: 0,
        apiUrl: `${base}/api`,
        progressIntervalMs: 0,
      });
      url = `http://127.0.0.1:${await adapter.start()}/slack/events`;
    },
    async stop() {
      await adapter.stop();
      await fake.stop();
    },
    imagine: (text) => slash('/imagine', text),
    reply: (ts, text) =>
      post(
        JSON.stringify({
          type: 'event_callback',
          team_id: 'T1',
          api_app_id: 'A1',
          event_id: `Ev${Math.random()}`,
          event_time: 1,
          event: {
            type: 'message',
            channel: 'C1',
            user: 'U1',
            text,
            ts: `${Date.now() / 1000}`,
            thread_ts: ts,
          },
        }),
        'application/json',
      ),
    command: (name, text) => slash('/flowbot', `${name} ${text}`),
    async channel() {
      const gone = deleted();
      const messages = fake
        .of('chat.postMessage')
        .filter((c) => c.args.channel === 'C1' && c.ts && !gone.has(c.ts))
        .map((c) => ({
          id: c.ts!,
          thread: c.args.thread_ts === undefined ? undefined : String(c.args.thread_ts),
          text: latestText(c.ts!, String(c.args.text)),
          files: [] as string[],
        }));
      // A file belongs to the message it follows in its thread (the result it was uploaded for).
      for (const file of files().filter((f) => f.channel === 'C1')) {
        const owner = messages
          .filter((m) => (m.id === file.thread || m.thread === file.thread) && Number(m.id) < Number(file.ts))
          .at(-1);
        owner?.files.push(file.name);
      }
      return messages.map(({ id, text, files: names }) => ({ id, text, files: names }));
    },
    async privateTexts() {
      const ephemeral = fake.of('chat.postEphemeral').map((c) => String(c.args.text));
      const direct = fake.of('chat.postMessage').filter((c) => c.args.channel === 'DDM1');
      return [...acked, ...ephemeral, ...direct.map((c) => String(c.args.text))];
    },
    privateFiles() {
      return files()
        .filter((f) => f.channel === 'DDM1')
        .map((f) => f.name);
    },
    progressShown() {
      return fake.of('chat.update').filter((c) => PROGRESS.test(String(c.args.text))).length;
    },
  };
}

function playgroundDriver(): Driver {
  let web: WebAdapter;
  let port = 0;
  let stream: IncomingMessage;
  const events: { type: string }[] = [];
  const answers: string[] = [];
  const headers = () => ({
    'content-type': 'application/json',
    host: `127.0.0.1:${port}`,
    origin: `http://127.0.0.1:${port}`,
  });
  const message = async (text: string, replyTo?: string) => {
    const answer = await send(port, {
      method: 'POST',
      path: '/api/message',
      headers: headers(),
      body: JSON.stringify({ text, ...(replyTo ? { replyTo } : {}) }),
    });
    const body = JSON.parse(answer.body) as { replies: { type: string; text?: string }[] };
    for (const reply of body.replies) if (reply.text) answers.push(reply.text);
  };
  const history = async () =>
    (
      JSON.parse(
        (await send(port, { path: '/api/history', headers: { host: `127.0.0.1:${port}` } })).body,
      ) as {
        entries: { messageId: string; fromBot: boolean; text: string; image: { url: string } | null }[];
      }
    ).entries.filter((e) => e.fromBot);
  return {
    name: 'playground',
    platform: 'web',
    hasPrivatePlace: false,
    place: { userId: 'local', channelId: 'playground' },
    async start(bot) {
      web = new WebAdapter({
        bot: bot.bot,
        signer: new LinkSigner('contract-secret-0123456789'),
        host: '127.0.0.1',
        port: 0,
      });
      port = Number(new URL(await web.listen()).port);
      stream = await new Promise((resolve) => get({ host: '127.0.0.1', port, path: '/api/events' }, resolve));
      stream.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n'))
          if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)) as { type: string });
      });
    },
    async stop() {
      stream.destroy();
      await web.close();
    },
    imagine: (text) => message(`/imagine ${text}`),
    reply: (messageId, text) => message(text, messageId),
    command: (name, text) => message(`/${name} ${text}`),
    async channel() {
      // Notes (n-…) are the person's alone, like a DM; everything else is the conversation.
      return (await history())
        .filter((e) => !e.messageId.startsWith('n-'))
        .map((e) => ({
          id: e.messageId,
          text: e.text,
          files: e.image ? [`flowbot-${e.image.url.split('/').at(-1)!}`] : [],
        }));
    },
    async privateTexts() {
      const notes = (await history()).filter((e) => e.messageId.startsWith('n-')).map((e) => e.text);
      return [...answers, ...notes];
    },
    privateFiles: () => [],
    progressShown: () => events.filter((e) => e.type === 'progress').length,
  };
}

const DRIVERS = [discordDriver, slackDriver, playgroundDriver];

describe.each(DRIVERS.map((make) => [make().name, make] as const))('the %s surface', (_name, make) => {
  const t = tempDir();
  const driver = make();
  let bot: TestBot;
  let result: Shown;

  beforeAll(async () => {
    bot = new TestBot(t.dir, { MODERATION_MODEL: MODERATION_MODEL_DIR }, { previewEvery: 1 });
    await driver.start(bot);
  });

  afterAll(async () => {
    await driver.stop();
    await bot.close();
    t.cleanup();
  });

  /** Waits for `count` new messages with an image in the channel; returns the channel's new messages. */
  async function newImages(before: Shown[], count = 1): Promise<Shown[]> {
    const fresh = async () =>
      (await driver.channel()).filter(
        (m) => !before.some((b) => b.id === m.id && b.files.length === m.files.length),
      );
    await until(
      async () => (await fresh()).filter((m) => m.files.length > 0).length >= count,
      20_000,
      'the image',
    );
    await bot.core.queue.onIdle();
    await new Promise((resolve) => setTimeout(resolve, 300));
    return fresh();
  }

  it('imagine: progress on the way, then one message that carries the result', async () => {
    const before = await driver.channel();
    await driver.imagine('a red apple --n 1 --steps 3 --seed 3');
    const fresh = await newImages(before);
    expect(fresh).toHaveLength(1);
    result = fresh[0]!;
    expect(result.files.join()).toMatch(/flowbot-\w+\.png/);
    expect(result.text).not.toMatch(PROGRESS);
    expect(driver.progressShown()).toBeGreaterThan(0);
  });

  it('an exact edit answers with one message that carries the edited image', async () => {
    const before = await driver.channel();
    await driver.reply(result.id, 'darker');
    const fresh = await newImages(before);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.files.join()).not.toBe(result.files.join());
  });

  it('a question is answered in words, with no image', async () => {
    const before = await driver.channel();
    const heard = (await driver.privateTexts()).length;
    await driver.reply(result.id, 'what seed is this?');
    const said = async () => [
      ...(await driver.privateTexts()).slice(heard),
      ...(await driver.channel()).filter((m) => !before.some((b) => b.id === m.id)).map((m) => m.text),
    ];
    await until(
      async () => (await said()).some((text) => /\b3\b/.test(text) && /seed/i.test(text)),
      10_000,
      'the answer',
    );
    expect((await driver.channel()).filter((m) => m.files.length > 0)).toHaveLength(
      before.filter((m) => m.files.length > 0).length,
    );
  });

  it('a mistake is told to the person alone, and nothing is posted', async () => {
    const before = await driver.channel();
    await driver.imagine('a cat --stpes 3');
    await until(
      async () => (await driver.privateTexts()).some((text) => text.includes('Did you mean --steps?')),
      10_000,
      'the error',
    );
    expect(await driver.channel()).toEqual(before);
  });

  it('a private result goes to its owner alone where the platform has a private place', async () => {
    await driver.command('settings', 'private on');
    await until(
      async () => (await driver.privateTexts()).some((text) => /private/i.test(text)),
      10_000,
      'the setting',
    );
    const before = await driver.channel();
    const privately = driver.privateFiles().length;
    await driver.imagine('a private pear --n 1 --steps 2 --seed 4');
    if (driver.hasPrivatePlace) {
      await waitFor(() => driver.privateFiles().length > privately, 20_000, 'the private result');
      await bot.core.queue.onIdle();
      expect((await driver.channel()).filter((m) => m.files.length > 0)).toEqual(
        before.filter((m) => m.files.length > 0),
      );
    } else {
      expect(await newImages(before)).toHaveLength(1);
    }
    await driver.command('settings', 'private off');
    await until(
      async () => (await driver.privateTexts()).filter((text) => /private/i.test(text)).length >= 2,
      10_000,
      'off',
    );
  });

  it('cancel: the job ends with "Cancelled." in place of its status', async () => {
    bot.core.queue.setConcurrency(0);
    try {
      await driver.imagine('a slow plum --n 1 --steps 2');
      await waitFor(() => bot.core.queue.waitingCount === 1, 10_000, 'the queued job');
      const jobId = bot.core.queue.waitingOrder()[0]!.id;
      await waitFor(() => bot.core.store.chatMessagesOfJob(jobId).length > 0, 10_000, 'its status');
      await driver.command('cancel', jobId);
      await until(
        async () => {
          const texts = [...(await driver.privateTexts()), ...(await driver.channel()).map((m) => m.text)];
          return texts.includes('Cancelled.');
        },
        10_000,
        'the cancellation',
      );
      const statuses = (await driver.channel()).filter((m) => m.text.includes('a slow plum'));
      expect(statuses).toEqual([]);
    } finally {
      bot.core.queue.setConcurrency(1);
    }
  });

  /** Sets this channel's image moderation as an admin would; threshold 0 puts every real score over it. */
  async function moderate(policy: string) {
    await bot.send({
      kind: 'command',
      name: 'settings',
      text: `admin nsfw ${policy}`,
      ctx: bot.ctx('admin', { platform: driver.platform, channelId: driver.place.channelId, isAdmin: true }),
    });
  }

  it('moderation "spoiler": the image is hidden until asked for (a spoiler, or blurred)', async () => {
    await moderate('spoiler 0');
    try {
      const before = await driver.channel();
      await driver.imagine('a green pear --n 1 --steps 2 --seed 5');
      const fresh = await newImages(before);
      expect(fresh).toHaveLength(1);
      const names = fresh[0]!.files.join();
      expect(names).toMatch(driver.platform === 'discord' ? /^SPOILER_flowbot-/ : /blurred/);
    } finally {
      await moderate('allow');
    }
  });

  it('moderation "block": nothing is posted, the owner is told privately, the image is kept', async () => {
    await moderate('block 0');
    try {
      const before = await driver.channel();
      const blocked = () =>
        bot.core.store.db
          .prepare("SELECT count(*) AS n FROM image_moderation WHERE action = 'block'")
          .get() as {
          n: number;
        };
      const blockedBefore = blocked().n;
      const privately = driver.privateFiles().length;
      await driver.imagine('a blue plum --n 1 --steps 2 --seed 6');
      await until(async () => (await driver.privateTexts()).includes(HELD_BACK_NOTICE), 20_000, 'the notice');
      await bot.core.queue.onIdle();
      await sleep(300);
      expect((await driver.channel()).filter((m) => m.files.length > 0)).toEqual(
        before.filter((m) => m.files.length > 0),
      );
      expect(driver.privateFiles()).toHaveLength(privately);
      expect(blocked().n).toBeGreaterThan(blockedBefore);
    } finally {
      await moderate('allow');
    }
  });
});
