/**
 * Replies understood by meaning, through the real command path (store, queue, pipeline, the shipped
 * sentence encoder): phrasings no rule reads do what they say, a prompt typed in a thread is a new
 * prompt, and without the encoder the rules work alone after one warning at start-up.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from '../commands/types.js';
import { setLogLevel, setLogSink } from '../src/log.js';
import { TestBot } from './helpers/bot.js';
import { haveRedisServer, RedisServer } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

const ENCODER = path.resolve(import.meta.dirname, '..', 'models', 'minilm-l6');
const t = tempDir();
let bot: TestBot;
let message: string;
let imageId: string;

const textOf = (reply: Reply) =>
  reply.type === 'text' || reply.type === 'queued'
    ? reply.text
    : reply.type === 'image'
      ? reply.view.text
      : '';

beforeAll(async () => {
  bot = new TestBot(path.join(t.dir, 'with'), { ENCODER });
  const made = await bot.imagine('a red apple --n 1 --seed 3');
  message = made.messageId!;
  imageId = made.view!.imageId;
}, 120_000);
afterAll(async () => {
  await bot.close();
  t.cleanup();
});

describe('replies no rule reads do what they say', () => {
  it.each(['can I see a few other versions of this?', 'give me a couple more like this one'])(
    '%j makes variations of the image',
    async (text) => {
      const { view } = await bot.replyTo(message, text);
      expect(view!.isGrid).toBe(true);
      for (const cell of view!.cellIds)
        expect(bot.core.store.getImage(cell)).toMatchObject({ operation: 'variation', parentId: imageId });
    },
  );

  it('"could you do that again but bigger" upscales it', async () => {
    const { view } = await bot.replyTo(message, 'could you do that again but bigger');
    const record = bot.core.store.getImage(view!.imageId)!;
    expect(record).toMatchObject({ operation: 'upscale', parentId: imageId });
    expect(record.width).toBeGreaterThan(bot.core.store.getImage(imageId)!.width);
  });

  it.each(['go back one', 'show me the one before'])('%j goes back to the image before', async (text) => {
    const edited = await bot.replyTo(message, 'darker');
    const { reply, view } = await bot.replyTo(edited.messageId!, text);
    expect(reply.type).toBe('image');
    expect(view!.imageId).toBe(imageId);
    expect(view!.text).toMatch(new RegExp(`^Back to #${imageId}`));
  });
});

describe('below the margin', () => {
  it('proposes its best reading and "yes" carries it out', async () => {
    const before = bot.core.store.countJobsSince('alice', 0);
    const { reply } = await bot.replyTo(message, 'show the surroundings');
    expect(textOf(reply)).toBe(
      'I\'m not sure what "show the surroundings" means. My best reading: zoom out. Reply "yes" to do that, or say it another way ("what can I say?" lists what I understand).',
    );
    expect(bot.core.store.countJobsSince('alice', 0)).toBe(before);
    const { view } = await bot.replyTo(message, 'yes');
    // A zoom out is outpainting: the image shrunk on its canvas, the new border painted in.
    expect(bot.core.store.getImage(view!.imageId)).toMatchObject({ operation: 'inpaint', parentId: imageId });
    expect(view!.text).toMatch(/^Zoom(ed)? out/i);
  });
});

describe('a prompt typed in a thread', () => {
  const thread = 'thread-1';
  const inThread = (text: string) =>
    bot.run({
      kind: 'reply',
      text,
      target: { channelId: 'general', messageId: thread },
      ctx: bot.ctx('alice', { threadId: thread }),
    });

  beforeAll(() => {
    bot.core.store.recordChatMessage({ platform: 'web', channelId: 'general', messageId: thread, imageId });
  });

  it('"a cat on a boat" is a new prompt, not an edit of the thread\'s image', async () => {
    const { view } = await inThread('a cat on a boat');
    // A fresh grid from the words alone: no parent, nothing of the apple's prompt.
    expect(bot.core.store.getImage(view!.imageId)).toMatchObject({
      operation: 'grid',
      prompt: 'a cat on a boat',
      parentId: null,
    });
  });

  it('a prompt with flags is a new prompt: its flags are syntax, not words to read', async () => {
    // "--seed 4" once made the words read as a question about the seed.
    const { view } = await inThread('a dog in the rain --seed 4');
    expect(bot.core.store.getImage(view!.imageId)).toMatchObject({
      operation: 'grid',
      prompt: 'a dog in the rain',
      seed: 4,
      parentId: null,
    });
  });

  it('an edit typed in the same thread still edits its image', async () => {
    const { view } = await inThread('make it darker');
    expect(bot.core.store.getImage(view!.imageId)).toMatchObject({ operation: 'edit', parentId: imageId });
  });

  it('the same words as a reply to the image still refine it', async () => {
    const { view } = await bot.replyTo(message, 'a cat on a boat');
    expect(bot.core.store.getImage(view!.imageId)).toMatchObject({
      prompt: 'a red apple, a cat on a boat',
      parentId: imageId,
    });
  });
});

describe('without the encoder', () => {
  it('warns once at start-up and the rules work alone', async () => {
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    setLogLevel('warn');
    let alone: TestBot | undefined;
    try {
      alone = new TestBot(path.join(t.dir, 'without'), { ENCODER: path.join(t.dir, 'no-encoder') });
      const made = await alone.imagine('a red apple --n 1 --seed 3');
      const { reply } = await alone.replyTo(made.messageId!, 'can I see a few other versions of this?');
      expect(textOf(reply)).toMatch(/can't answer that one/);
      const { view } = await alone.replyTo(made.messageId!, 'variations');
      expect(view!.isGrid).toBe(true);
    } finally {
      await alone?.close();
      setLogSink((line) => process.stderr.write(`${line}\n`));
      setLogLevel('info');
    }
    const warnings = lines.filter((line) => line.includes('no sentence encoder'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/rule table alone/);
  });
});

describe.skipIf(!haveRedisServer())('with REDIS_URL', () => {
  it('the front-end reads replies by meaning itself, with no image worker running', async () => {
    const dir = path.join(t.dir, 'redis');
    const made = await (async () => {
      const local = new TestBot(dir, { ENCODER });
      try {
        return await local.imagine('a red apple --n 1 --seed 3');
      } finally {
        await local.close();
      }
    })();
    const redis = await RedisServer.start(t.dir);
    const frontend = new TestBot(dir, { ENCODER, REDIS_URL: redis.url, LOCAL_WORKER: '0' });
    try {
      expect(frontend.core.encoder).toBeDefined();
      expect(frontend.core.localWorker).toBeUndefined();
      const [reply] = await frontend.send({
        kind: 'reply',
        text: 'can I see a few other versions of this?',
        target: { channelId: 'general', messageId: made.messageId! },
        ctx: frontend.ctx(),
      });
      // Understood on the front-end and queued for a worker: a variation of the image.
      expect(reply?.type).toBe('queued');
      const job = frontend.core.store.getJob((reply as { jobId: string }).jobId)!;
      expect(job.kind).toBe('variation');
      expect(job.params).toMatchObject({ parentId: made.view!.imageId });
    } finally {
      await frontend.close();
      await redis.stop();
    }
  });
});
