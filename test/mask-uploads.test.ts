/**
 * An uploaded mask is fetched only once the cheap checks pass: where flowbot works, the hourly limit
 * and the person's cap on jobs in progress come first, and what arrives is held to the size limit
 * whatever size the platform stated. Uploads arrive as adapters send them: a name, a stated size and a
 * way to fetch the bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attachment, ChatContext } from '../commands/types.js';
import { TestBot } from './helpers/bot.js';
import { plainPng } from './helpers/hostile-images.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir();
let bot: TestBot;
let imageId: string;
let mask: Buffer;

beforeAll(async () => {
  bot = new TestBot(t.dir, { MAX_JOBS_PER_USER: '1' });
  imageId = (await bot.imagine('a red apple --n 1 --seed 3')).view!.imageId;
  mask = await plainPng();
});

afterAll(async () => {
  await bot.close();
  t.cleanup();
});

/** An upload of `bytes` stating `size`, counting how often it is fetched. */
function upload(bytes: Buffer, size = bytes.length): Attachment & { fetched: number } {
  const counted = {
    name: 'mask.png',
    size,
    fetched: 0,
    fetch: async (maxBytes: number) => {
      counted.fetched++;
      return bytes.subarray(0, maxBytes + 1);
    },
  };
  return counted;
}

/** `region <image>: a moon` with `attachment`, as `who` in `where`; resolves with the answer's text. */
async function region(attachment: Attachment, ctx: Partial<ChatContext> = {}): Promise<string> {
  const [reply] = await bot.send({
    kind: 'command',
    name: 'region',
    text: `${imageId} a moon`,
    ctx: bot.ctx('bob', ctx),
    attachment,
  });
  return reply?.type === 'text' ? reply.text : (reply?.type ?? 'nothing');
}

const admin = (text: string) =>
  bot.send({ kind: 'command', name: 'settings', text, ctx: bot.ctx('root', { isAdmin: true }) });

describe('an uploaded mask', () => {
  it('in a channel flowbot does not work in is refused without being fetched', async () => {
    await admin('admin channels add elsewhere');
    try {
      const file = upload(mask);
      expect(await region(file)).toMatch(/I don't work in this channel/);
      expect(file.fetched).toBe(0);
    } finally {
      await admin('admin channels clear');
    }
  });

  it('from someone at their cap of jobs in progress is refused without being fetched', async () => {
    bot.core.queue.setConcurrency(0); // jobs wait, so bob's first one stays in progress
    try {
      expect(await region(upload(mask))).toBe('queued');
      const file = upload(mask);
      expect(await region(file)).toMatch(/You already have 1 job in progress/);
      expect(file.fetched).toBe(0);
    } finally {
      bot.core.queue.setConcurrency(1);
      await bot.core.queue.onIdle();
    }
  });

  it('that stated a small size but arrives larger than the limit is refused', async () => {
    const file = upload(Buffer.alloc(11 * 1024 * 1024), 1000);
    expect(await region(file)).toBe('That file is larger than 10 MB; masks can be at most 10 MB.');
    expect(file.fetched).toBe(1);
  });

  it('that states a size over the limit is refused without being fetched', async () => {
    const file = upload(mask, 12 * 1024 * 1024);
    expect(await region(file)).toBe('That file is 12.0 MB; masks can be at most 10 MB.');
    expect(file.fetched).toBe(0);
  });
});
