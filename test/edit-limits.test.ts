/**
 * Every edit within the same limits as any job (issue 20, items 9, 10 and 2): outpainting canvases through
 * the size gate and exact edits counted and capped like jobs, replied to on Discord as a member would;
 * prompts grown by replies within the prompt limit, on the playground.
 */
import { request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../adapters/discord/adapter.js';
import { WebAdapter } from '../adapters/web/server.js';
import type { JobRequest } from '../commands/context.js';
import { checkJob, limitsFor } from '../commands/limits.js';
import { LinkSigner } from '../src/links.js';
import { canvasFor, type Outpaint } from '../src/pipeline/canvas.js';
import { TestBot } from './helpers/bot.js';
import { CHANNEL, FakeDiscord, GUILD, user } from './helpers/fake-discord.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const MEMBER = user('960000000000000011', 'member');
const DM = '950000000000000001';

const t = tempDir();
const fake = new FakeDiscord();
let bot: TestBot;
let discord: DiscordAdapter;

beforeAll(async () => {
  await fake.start();
  bot = new TestBot(t.dir);
  discord = new DiscordAdapter({
    bot: bot.bot,
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

const admin = (text: string) =>
  bot.send({ kind: 'command', name: 'settings', text, ctx: bot.ctx('root', { isAdmin: true }) });

/** A member's reply on Discord to one of flowbot's messages. */
function replyOnDiscord(messageId: string, content: string, author = MEMBER): void {
  fake.dispatch('MESSAGE_CREATE', {
    id: fake.nextId(),
    channel_id: CHANNEL,
    guild_id: GUILD,
    author,
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
    message_reference: { message_id: messageId, channel_id: CHANNEL, guild_id: GUILD },
  });
}

/** What flowbot told the member privately (refusals go by DM), and the job statuses it posted. */
const refusals = () =>
  fake.of('POST', new RegExp(`/channels/${DM}/messages$`)).map((c) => String(c.body.content));
const statuses = () =>
  fake
    .of('POST', new RegExp(`/channels/${CHANNEL}/messages$`))
    .filter((c) => c.files.length === 0)
    .map((c) => String(c.body.content));
const told = () => refusals().length + statuses().length;
const jobsOf = (member = MEMBER) => bot.core.store.countJobsSince(member.id, 0);

/** An image of the member's, shown in the Discord channel as one of flowbot's messages. */
async function postedImage(prompt: string, member = MEMBER): Promise<{ messageId: string; imageId: string }> {
  const made = await bot.imagine(`${prompt} --n 1`, member.id);
  const messageId = fake.nextId();
  bot.core.store.recordChatMessage({
    platform: 'discord',
    channelId: CHANNEL,
    messageId,
    imageId: made.view!.imageId,
  });
  return { messageId, imageId: made.view!.imageId };
}

describe('outpainting passes the size gate', () => {
  it('a chain of "pan left" replies stops at max-side 256, with the size it would have been', async () => {
    await admin('admin max-side 256');
    try {
      let head = await postedImage('a lighthouse');
      const sizes: string[] = [];
      for (let pan = 0; pan < 3; pan++) {
        const before = fake.posted().length;
        replyOnDiscord(head.messageId, 'pan left');
        await waitFor(() => fake.posted().length === before + 1, 20_000, 'the panned image');
        const posted = fake.posted().at(-1)!;
        await waitFor(
          () => bot.core.store.findChatMessage('discord', CHANNEL, posted.messageId!)?.imageId != null,
          10_000,
          'the record',
        );
        const imageId = bot.core.store.findChatMessage('discord', CHANNEL, posted.messageId!)!.imageId!;
        const image = bot.core.store.getImage(imageId)!;
        sizes.push(`${image.width}×${image.height}`);
        head = { messageId: posted.messageId!, imageId };
      }
      expect(sizes).toEqual(['96×64', '144×64', '216×64']);
      const jobs = jobsOf();
      const before = refusals().length;
      replyOnDiscord(head.messageId, 'pan left');
      await waitFor(() => refusals().length === before + 1, 10_000, 'the refusal');
      expect(refusals().at(-1)).toBe(
        'Panned left, this image would be 324×64; images here can be at most 256 px a side.',
      );
      expect(jobsOf()).toBe(jobs);
    } finally {
      await admin('admin max-side reset');
    }
  });

  it("a canvas whose short side is clamped up to the size multiple is refused beyond the model's area", async () => {
    const thin = await bot.imagine('a long thin banner --size 2048x8 --n 1', 'banner');
    const pan = (direction: 'left' | 'up'): JobRequest => ({
      kind: 'outpaint',
      params: {
        parentId: thin.view!.imageId,
        outpaint: { kind: 'pan', direction },
        prompt: 'a banner',
        negativePrompt: '',
        seed: 1,
        steps: 2,
        guidance: 3,
        model: 'flow-tiny',
        explanation: '',
      },
    });
    // Beyond the admin's longest max-side, so that the area is what is checked.
    const limits = { ...limitsFor(bot.bot.deps), maxSide: 100_000 };
    expect(checkJob(bot.bot.deps, pan('left'), limits)?.message).toBe(
      'Panned left, this image would be 2504×8, more than flow-tiny can paint (16,384 pixels in all, at least 8 px a side). Start from a less narrow image.',
    );
    expect(checkJob(bot.bot.deps, pan('up'), limits)).toBeUndefined();
  });

  it('property: a canvas stays within the area, unless a side is one size multiple (which the gate refuses)', () => {
    const outpaint = fc.oneof(
      fc.record({ kind: fc.constant('zoom' as const), factor: fc.constantFrom(1.5, 2, 4) }),
      fc.record({
        kind: fc.constant('pan' as const),
        direction: fc.constantFrom('left', 'right', 'up', 'down'),
      }),
      fc.record({ kind: fc.constant('widen' as const), axis: fc.constantFrom('horizontal', 'vertical') }),
    ) as fc.Arbitrary<Outpaint>;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 512 }),
        fc.integer({ min: 1, max: 512 }),
        fc.constantFrom(8, 16, 64),
        fc.constantFrom(64, 128, 1024),
        outpaint,
        (w, h, multiple, native, how) => {
          const canvas = canvasFor(w * multiple, h * multiple, how, native * native * 4, multiple);
          const clamped = canvas.width === multiple || canvas.height === multiple;
          expect(canvas.width * canvas.height <= native * native * 4 || clamped).toBe(true);
        },
      ),
      { seed: 20261206, numRuns: 500 },
    );
  });
});

describe('prompts stay within 1,500 characters, however they are made', () => {
  let web: WebAdapter;
  let port: number;
  beforeAll(async () => {
    web = new WebAdapter({
      bot: bot.bot,
      signer: new LinkSigner('test-secret-0123456789'),
      host: '127.0.0.1',
      port: 0,
    });
    port = Number(new URL(await web.listen()).port);
  });
  afterAll(() => web.close());

  /** A message typed into the playground, optionally as a reply to one of its messages. */
  function post(text: string, replyTo?: string): Promise<{ replies: { type: string; text?: string }[] }> {
    const body = JSON.stringify({ text, ...(replyTo ? { replyTo } : {}) });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/message',
          headers: {
            'content-type': 'application/json',
            host: `127.0.0.1:${port}`,
            origin: `http://127.0.0.1:${port}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  const latestMessage = () =>
    bot.core.store.latestImageInThread('web', 'playground', 'playground')!.messageId!;
  const playgroundJobs = () => bot.core.store.countJobsSince('local', 0);
  const entries = (answer: { replies: { type: string; text?: string }[] }) =>
    answer.replies.map((reply) => reply.text ?? reply.type);

  it('an 8,000-character reply is refused before it is read, and the hourly count does not move', async () => {
    await post('a red apple --n 1 --steps 2');
    await bot.core.queue.onIdle();
    const jobs = playgroundJobs();
    const answer = await post(
      `add ${'a lighthouse on a cliff, '.repeat(320)}`.slice(0, 8000),
      latestMessage(),
    );
    expect(entries(answer)).toEqual([
      'That reply is 8,000 characters long; prompts can be at most 1,500. Please say it more briefly.',
    ]);
    await bot.core.queue.onIdle();
    expect(playgroundJobs()).toBe(jobs);
  });

  it('a reply that grows a prompt past the limit is refused, and not counted', async () => {
    const long = `a lighthouse ${'on a cliff '.repeat(134)}`.trim();
    expect(long.length).toBeLessThanOrEqual(1500);
    await post(`${long} --n 1 --steps 2 --no ${'fog, '.repeat(200).trim()}`);
    await bot.core.queue.onIdle();
    const jobs = playgroundJobs();
    const grown = await post('add a small moon in the sky', latestMessage());
    expect(entries(grown)).toEqual([
      `That would make the prompt ${(long.length + ', a small moon in the sky'.length).toLocaleString('en-US')} characters long; it can be at most 1,500. Start again with a shorter prompt.`,
    ]);
    const negative = await post(`remove ${'busy, '.repeat(120).trim()}`, latestMessage());
    expect(entries(negative)[0]).toMatch(/^That would make the negative prompt 1,\d{3} characters long/);
    await bot.core.queue.onIdle();
    expect(playgroundJobs()).toBe(jobs);
  });
});

describe('exact edits are limited like jobs', () => {
  it('200 rapid "darker" and "mirror" replies: the per-person cap, then the hourly count, each named', async () => {
    const editor = user('960000000000000012', 'editor');
    await admin('admin jobs-per-hour 10');
    try {
      const apple = await postedImage('a red apple', editor);
      await postedImage('a pear', editor);
      await postedImage('a plum', editor);
      expect(jobsOf(editor)).toBe(3);
      const [refused, queued, images] = [refusals().length, statuses().length, fake.posted().length];
      const newRefusals = () => refusals().slice(refused);
      const newStatuses = () => statuses().slice(queued);
      // Held in line (as while a long job runs), so the burst meets the per-person cap.
      bot.core.queue.setConcurrency(0);
      for (let i = 0; i < 200; i++)
        replyOnDiscord(apple.messageId, i % 2 === 0 ? 'darker' : 'mirror', editor);
      // Each reply is answered: a job's status, a refusal, or (what the limits must prevent) an image.
      const answers = () => newRefusals().length + newStatuses().length + fake.posted().length - images;
      await waitFor(() => answers() === 200, 30_000, 'an answer to every reply');
      expect(jobsOf(editor)).toBe(6);
      expect(newStatuses()).toHaveLength(3);
      expect(newStatuses()[0]).toMatch(/Edited exactly: darker \(×0\.75 brightness\)/);
      expect(new Set(newRefusals())).toEqual(
        new Set([
          'You already have 3 jobs in progress (the limit is 3). Wait for one to finish, or cancel one.',
        ]),
      );
      bot.core.queue.setConcurrency(1);
      await bot.core.queue.onIdle();
      // One at a time now: the count rises to the hourly limit, and then the limit is named with when it opens.
      for (let i = 0; i < 5; i++) {
        const before = told();
        replyOnDiscord(apple.messageId, 'sepia', editor);
        await waitFor(() => told() === before + 1, 10_000, 'the answer');
        await bot.core.queue.onIdle();
      }
      expect(jobsOf(editor)).toBe(10);
      expect(newStatuses()).toHaveLength(7);
      expect(newRefusals().at(-1)).toMatch(
        /^You've reached the limit of 10 images per hour here\. The next one opens up in (59|60) minutes\.$/,
      );
      await waitFor(() => fake.posted().length === images + 7, 10_000, 'the seven edited images');
    } finally {
      bot.core.queue.setConcurrency(1);
      await admin('admin jobs-per-hour reset');
    }
  });

  it('an edit passes the memory budget: refused when its estimate is over, with the size named', async () => {
    const { imageId } = await postedImage('a cherry');
    const edit: JobRequest = {
      kind: 'edit',
      params: { parentId: imageId, edit: { op: 'sepia' }, explanation: '' },
    };
    const budget = (memoryBudgetMB: number) => {
      const deps = { ...bot.bot.deps, host: { memoryBudgetMB, maxOutputSide: 4096 } };
      return checkJob(deps, edit, limitsFor(deps));
    };
    expect(budget(1)).toBeUndefined();
    expect(budget(0)?.message).toBe(
      "Editing this 64×64 image needs about 1 MB, more than this server's 0 MB budget.",
    );
  });
});
