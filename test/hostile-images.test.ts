/**
 * The security review's 1 MB PNG whose 20 zTXt chunks inflate to 49 MB each (about 1 GB in all), sent
 * every way an image enters flowbot: a Discord reply's attachment (the real adapter on the loopback
 * Discord), the mask editor (the real playground server), the CLI's input files, and the parent image
 * and mask a worker receives through Redis (a real `npm run worker` on a real redis-server). Each is
 * refused with a friendly message, and the process's peak memory barely moves. Uploads as pictures
 * (Discord, Slack and the playground) are refused the same way in discord-uploads.test.ts and
 * slack-uploads.test.ts.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../adapters/discord/adapter.js';
import { WebAdapter } from '../adapters/web/server.js';
import { BlobStore, queueNameFor } from '../src/cluster/redis.js';
import { orderToWire } from '../src/cluster/wire.js';
import { LinkSigner } from '../src/links.js';
import { FIXTURE_MODELS, TestBot } from './helpers/bot.js';
import { SHIPPED_MODELS_DIR, WorkerProc } from './helpers/cluster.js';
import { CHANNEL, FakeDiscord, GUILD, user } from './helpers/fake-discord.js';
import { plainPng, textBombPng } from './helpers/hostile-images.js';
import { watchPeakRss } from './helpers/memory.js';
import { haveRedisServer, RedisServer } from './helpers/redis.js';
import { exited, spawnTs } from './helpers/spawn.js';
import { tempDir, waitFor } from './helpers/tmp.js';

/** What every refusal of the file says (the detail of which chunk stays in the log). */
const REFUSED = /carries more hidden metadata \(text or colour-profile data\) than I accept/;
/** A generous bound on the rise of peak RSS: the file inflates to about 1 GB when decoded. */
const MAX_EXTRA_RSS_MB = 100;

const t = tempDir();
let bomb: Buffer;
let bot: TestBot;
/** An image alice made, to reply to and to open in the editor. */
let imageId: string;
const ALICE = user('960000000000000001', 'alice');

beforeAll(async () => {
  bomb = await textBombPng();
  bot = new TestBot(t.dir);
  const made = await bot.imagine('a red apple --n 1 --seed 3', ALICE.id as string);
  imageId = made.view!.imageId;
});

afterAll(async () => {
  await bot.close();
  t.cleanup();
});

describe('a Discord reply with the PNG attached as its mask', () => {
  const fake = new FakeDiscord();
  let discord: DiscordAdapter;
  /** The message flowbot posted the image in. */
  let posted: string;
  /** Texts flowbot sent alice privately (a reply to a message is answered by DM). */
  const privateAnswers = () =>
    fake.of('POST', /^\/channels\/950000000000000001\/messages$/).map((c) => String(c.body.content));

  beforeAll(async () => {
    await fake.start();
    discord = new DiscordAdapter({
      bot: bot.bot,
      token: 'discord-test-token',
      apiUrl: `${fake.base}/api`,
      guildId: GUILD,
      progressIntervalMs: 0,
      // The fake serves attachments on loopback; the real adapter fetches Discord's CDN only.
      attachmentTestOrigins: [new URL(fake.base).host],
    });
    await discord.start();
    await waitFor(() => fake.identified, 10_000, 'the gateway login');
    posted = fake.nextId();
    bot.core.store.recordChatMessage({ platform: 'discord', channelId: CHANNEL, messageId: posted, imageId });
  });

  afterAll(async () => {
    await discord.stop();
    await fake.stop();
  });

  /** Alice replies to the image with `file` attached; resolves with flowbot's private answer. */
  async function replyWith(file: Buffer, text: string): Promise<string> {
    const before = privateAnswers().length;
    fake.say(ALICE, CHANNEL, text, { replyTo: posted, files: [{ name: 'mask.png', data: file }] });
    await waitFor(() => privateAnswers().length > before, 20_000, 'the answer');
    return privateAnswers()[before]!;
  }

  it('is refused with a friendly message, costing next to no memory, and queues nothing', async () => {
    const jobsBefore = bot.core.store.countJobsSince(ALICE.id as string, 0);
    const peak = watchPeakRss();
    expect(await replyWith(bomb, 'a moon')).toMatch(REFUSED);
    expect(peak()).toBeLessThan(MAX_EXTRA_RSS_MB);
    expect(fake.downloads()).toHaveLength(1);
    expect(bot.core.store.countJobsSince(ALICE.id as string, 0)).toBe(jobsBefore);
  });

  it('from someone at the hourly limit is refused before the attachment is even downloaded', async () => {
    await bot.send({
      kind: 'command',
      name: 'settings',
      text: 'admin jobs-per-hour 1',
      ctx: { platform: 'discord', userId: 'admin', channelId: CHANNEL, isAdmin: true },
    });
    const downloads = fake.downloads().length;
    try {
      // A valid mask, so that only the limit can refuse it.
      expect(await replyWith(await plainPng(), 'a moon')).toMatch(/reached the limit of 1 images per hour/);
      expect(fake.downloads()).toHaveLength(downloads);
    } finally {
      await bot.send({
        kind: 'command',
        name: 'settings',
        text: 'admin jobs-per-hour reset',
        ctx: { platform: 'discord', userId: 'admin', channelId: CHANNEL, isAdmin: true },
      });
    }
  });
});

describe('the mask editor, with the PNG as the drawn mask', () => {
  const signer = new LinkSigner('test-secret-0123456789');
  let web: WebAdapter;
  let origin: string;

  beforeAll(async () => {
    web = new WebAdapter({ bot: bot.bot, signer, host: '127.0.0.1', port: 0 });
    origin = new URL(await web.listen()).origin;
  });
  afterAll(() => web.close());

  it('is refused with a friendly message, costing next to no memory', async () => {
    const peak = watchPeakRss();
    const answer = await fetch(`${origin}/api/editor`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({
        query: signer.query(imageId, ALICE.id as string, 'web', 'playground'),
        prompt: 'a moon',
        mask: `data:image/png;base64,${bomb.toString('base64')}`,
      }),
    });
    expect(answer.status).toBe(200);
    const { replies } = (await answer.json()) as { replies: { type: string; text: string }[] };
    expect(replies[0]!.text).toMatch(REFUSED);
    expect(peak()).toBeLessThan(MAX_EXTRA_RSS_MB);
  });
});

describe('the CLI, with the PNG as its input image or mask', () => {
  async function cli(...args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawnTs('src/cli/main.ts', args, {
      MODELS_DIR: FIXTURE_MODELS,
      MODEL: 'flow-tiny',
      DATA_DIR: t.dir,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    return { code: await exited(child), stderr };
  }

  it('refuses it as the image to vary and as the mask to inpaint with, with a friendly message', async () => {
    const file = path.join(t.dir, 'hostile.png');
    const plain = path.join(t.dir, 'plain.png');
    writeFileSync(file, bomb);
    writeFileSync(plain, await plainPng());
    const varied = await cli('vary', file, '--out', path.join(t.dir, 'out.png'));
    expect(varied.code).toBe(2);
    expect(varied.stderr).toMatch(/That file carries more hidden metadata/);
    const painted = await cli('inpaint', plain, '--mask', file, '--prompt', 'a moon');
    expect(painted.code).toBe(2);
    expect(painted.stderr).toMatch(/That mask carries more hidden metadata/);
  });
});

describe.skipIf(!haveRedisServer())('a worker receiving the PNG through Redis', () => {
  const dirs = tempDir('flowbot-hostile-');
  let redis: RedisServer;
  let worker: WorkerProc;
  let connection: Redis;
  let queue: Queue;
  let events: QueueEvents;

  beforeAll(async () => {
    redis = await RedisServer.start(dirs.dir);
    worker = new WorkerProc({ REDIS_URL: redis.url, MODELS_DIR: SHIPPED_MODELS_DIR, ONNX_THREADS: '1' });
    await worker.ready();
    connection = new Redis(redis.url);
    queue = new Queue(queueNameFor('flowbot-emoji'), { connection: { url: redis.url } });
    events = new QueueEvents(queueNameFor('flowbot-emoji'), { connection: { url: redis.url } });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await events.close();
    await queue.close();
    connection.disconnect();
    await worker.kill('SIGKILL');
    await redis.stop();
    dirs.cleanup();
  });

  const prompted = { prompt: 'a red apple', negativePrompt: '', seed: 1, steps: 2, guidance: 4 };
  const parent = { id: 'abc123', width: 64, height: 64, model: 'flowbot-emoji', ...prompted };

  /** Queues an order as the front-end does; resolves with the worker's failure. */
  async function failureOf(
    order: Parameters<typeof orderToWire>[0],
  ): Promise<{ code: string; message: string }> {
    const wire = await orderToWire(order, new BlobStore(connection));
    const job = await queue.add(order.kind, wire, { jobId: order.jobId, attempts: 1 });
    // A worker's failure reason is its code and message as JSON (see src/cluster/wire.ts).
    const reason = await job.waitUntilFinished(events, 30_000).then(
      () => JSON.stringify({ code: 'none', message: 'the job succeeded' }),
      (error: Error) => error.message,
    );
    return JSON.parse(reason) as { code: string; message: string };
  }

  it('refuses it as a parent image and as a mask, with a friendly message, costing next to no memory', async () => {
    const peak = watchPeakRss(worker.pid);
    const base = { model: 'flowbot-emoji', parent, previewEvery: 0 };
    const explanation = 'test';
    const varied = await failureOf({
      ...base,
      jobId: 'hostile-parent',
      kind: 'variation',
      params: { ...prompted, explanation, model: 'flowbot-emoji', parentId: parent.id, strength: 0.5, n: 1 },
      image: bomb,
    });
    expect(varied).toMatchObject({ code: 'image_invalid', message: expect.stringMatching(REFUSED) });
    const painted = await failureOf({
      ...base,
      jobId: 'hostile-mask',
      kind: 'inpaint',
      params: { ...prompted, explanation, model: 'flowbot-emoji', parentId: parent.id, maskId: 'm1' },
      image: await plainPng(),
      mask: bomb,
    });
    expect(painted).toMatchObject({ code: 'image_invalid', message: expect.stringMatching(REFUSED) });
    expect(peak()).toBeLessThan(MAX_EXTRA_RSS_MB);
  });
});
