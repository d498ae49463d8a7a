/**
 * One way in for the review's hostile PNG, in a fresh process: how long until flowbot answered, how far
 * the peak RSS of the process doing the work rose (a worker's, for the Redis path), the longest
 * event-loop stall meanwhile, and what was answered. Prints one JSON line.
 * Usage: node --import tsx test/bench/intake-path.ts <discord-reply|mask-editor|cli-input|worker-redis>
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { DiscordAdapter } from '../../adapters/discord/adapter.js';
import { WebAdapter } from '../../adapters/web/server.js';
import { BlobStore, queueNameFor } from '../../src/cluster/redis.js';
import { orderToWire } from '../../src/cluster/wire.js';
import { LinkSigner } from '../../src/links.js';
import { readImage, readMask } from '../../src/pipeline/image.js';
import { TestBot } from '../helpers/bot.js';
import { SHIPPED_MODELS_DIR, WorkerProc } from '../helpers/cluster.js';
import { CHANNEL, FakeDiscord, GUILD, user } from '../helpers/fake-discord.js';
import { plainPng, textBombPng } from '../helpers/hostile-images.js';
import { watchPeakRss } from '../helpers/memory.js';
import { RedisServer } from '../helpers/redis.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const ALICE = user('960000000000000001', 'alice');
const t = tempDir('flowbot-bench-intake-');
const bomb = await textBombPng();

/** One way in, set up: the attempt the measurements are taken around, and whose memory to watch. */
interface Way {
  /** Sends the PNG; resolves with what flowbot answered. */
  readonly attempt: () => Promise<string>;
  readonly close: () => Promise<void>;
  /** The process doing the work, when not this one. */
  readonly pid?: number;
}

/** A bot with one image of alice's to reply to. */
async function botWithImage(): Promise<{ bot: TestBot; imageId: string }> {
  const bot = new TestBot(t.dir);
  const made = await bot.imagine('a red apple --n 1 --seed 3', ALICE.id as string);
  return { bot, imageId: made.view!.imageId };
}

async function discordReply(): Promise<Way> {
  const { bot, imageId } = await botWithImage();
  const fake = new FakeDiscord();
  await fake.start();
  const discord = new DiscordAdapter({
    bot: bot.bot,
    token: 'discord-bench-token',
    apiUrl: `${fake.base}/api`,
    guildId: GUILD,
    progressIntervalMs: 0,
  });
  await discord.start();
  await waitFor(() => fake.identified, 10_000, 'the gateway login');
  const posted = fake.nextId();
  bot.core.store.recordChatMessage({ platform: 'discord', channelId: CHANNEL, messageId: posted, imageId });
  // A refusal comes by DM, an accepted mask as a queued job's status message in the channel.
  const answers = () => fake.of('POST', /^\/channels\/\d+\/messages$/);
  return {
    attempt: async () => {
      fake.say(ALICE, CHANNEL, 'a moon', { replyTo: posted, files: [{ name: 'mask.png', data: bomb }] });
      await waitFor(() => answers().length > 0, 600_000, 'the answer');
      return String(answers()[0]!.body.content);
    },
    close: async () => {
      await discord.stop();
      await fake.stop();
      await bot.close();
    },
  };
}

async function maskEditor(): Promise<Way> {
  const { bot, imageId } = await botWithImage();
  const signer = new LinkSigner('bench-secret-0123456789');
  const web = new WebAdapter({ bot: bot.bot, signer, host: '127.0.0.1', port: 0 });
  const origin = new URL(await web.listen()).origin;
  return {
    attempt: async () => {
      const answer = await fetch(`${origin}/api/editor`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({
          query: signer.query(imageId, ALICE.id as string, 'web', 'playground'),
          prompt: 'a moon',
          mask: `data:image/png;base64,${bomb.toString('base64')}`,
        }),
      });
      return ((await answer.json()) as { replies: { text?: string; type: string }[] }).replies
        .map((reply) => reply.text ?? reply.type)
        .join(' ');
    },
    close: async () => {
      await web.close();
      await bot.close();
    },
  };
}

/** What `npm run cli -- vary FILE` and `inpaint … --mask FILE` do with their files. */
async function cliInput(): Promise<Way> {
  const file = path.join(t.dir, 'hostile.png');
  writeFileSync(file, bomb);
  const outcome = (work: Promise<unknown>) =>
    work.then(
      () => 'accepted',
      (error: Error) => error.message,
    );
  return {
    attempt: async () =>
      `${await outcome(readImage(file))} / ${await outcome(readMask(file, { width: 64, height: 64 }))}`,
    close: async () => undefined,
  };
}

/** A variation whose parent image is the PNG, queued through Redis to a real `npm run worker`. */
async function workerRedis(): Promise<Way> {
  const redis = await RedisServer.start(t.dir);
  const worker = new WorkerProc({ REDIS_URL: redis.url, MODELS_DIR: SHIPPED_MODELS_DIR, ONNX_THREADS: '1' });
  await worker.ready();
  const connection = new Redis(redis.url);
  const queue = new Queue(queueNameFor('flowbot-emoji'), { connection: { url: redis.url } });
  const events = new QueueEvents(queueNameFor('flowbot-emoji'), { connection: { url: redis.url } });
  await events.waitUntilReady();
  const prompted = { prompt: 'a red apple', negativePrompt: '', seed: 1, steps: 2, guidance: 4 };
  const parent = { id: 'abc123', width: 64, height: 64, model: 'flowbot-emoji', ...prompted };
  const params = { ...prompted, explanation: 'bench', model: 'flowbot-emoji', parentId: parent.id };
  return {
    pid: worker.pid,
    attempt: async () => {
      const order = { jobId: 'hostile', kind: 'variation' as const, model: 'flowbot-emoji', parent };
      const wire = await orderToWire(
        { ...order, params: { ...params, strength: 0.5, n: 1 }, image: bomb, previewEvery: 0 },
        new BlobStore(connection),
      );
      const job = await queue.add('variation', wire, { jobId: 'hostile', attempts: 1 });
      return job.waitUntilFinished(events, 600_000).then(
        () => 'accepted',
        (error: Error) => error.message,
      );
    },
    close: async () => {
      await events.close();
      await queue.close();
      connection.disconnect();
      await worker.kill('SIGKILL');
      await redis.stop();
    },
  };
}

const ways = {
  'discord-reply': discordReply,
  'mask-editor': maskEditor,
  'cli-input': cliInput,
  'worker-redis': workerRedis,
};
const way = process.argv[2] as keyof typeof ways;
if (!ways[way]) throw new Error(`unknown way in "${way}"; expected one of ${Object.keys(ways).join(', ')}`);
await plainPng(); // sharp's first use loads libvips; not part of the measurement
const setup = await ways[way]();
const stalls = monitorEventLoopDelay({ resolution: 10 });
const peak = watchPeakRss(setup.pid ?? process.pid);
stalls.enable();
const started = performance.now();
const answer = await setup.attempt();
const ms = performance.now() - started;
const extraMB = peak();
stalls.disable();
await setup.close();
t.cleanup();
console.log(
  JSON.stringify({
    way,
    ms: Math.round(ms),
    extraPeakRssMB: Math.round(extraMB),
    longestStallMs: Math.round(stalls.max / 1e6),
    answer: answer.slice(0, 90),
  }),
);
process.exit(0);
