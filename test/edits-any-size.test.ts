/**
 * Issue 24, part 2: "Edits on any image". An edit of an image larger than the model paints (an upscale)
 * works at the model's size and comes back at the image's size, with no size lecture and no flags in
 * the result line; the pixels the edit does not touch stay the image's own. Through the real playground
 * server and the real Discord adapter on loopback.
 */
import { get, type IncomingMessage } from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscordAdapter } from '../adapters/discord/adapter.js';
import { WebAdapter } from '../adapters/web/server.js';
import { encodeAction } from '../commands/actions.js';
import { type Bot, createBot } from '../commands/index.js';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { LinkSigner } from '../src/links.js';
import { readImage, readMask, resizeRgb } from '../src/pipeline/image.js';
import type { ImageRecord } from '../src/store/store.js';
import { FIXTURE_MODELS, TestBot } from './helpers/bot.js';
import { startDiscord } from './helpers/discord.js';
import { CHANNEL, FakeDiscord, user } from './helpers/fake-discord.js';
import { send } from './helpers/http.js';
import { tempDir, waitFor } from './helpers/tmp.js';

/** A playground entry as the page gets it. */
interface Entry {
  readonly messageId: string;
  readonly fromBot: boolean;
  readonly text: string;
  readonly jobId: string | null;
  readonly image: { readonly imageId: string } | null;
}

/** What flowbot wrote in the playground for one request: its answer, and the job's result when there is one. */
interface Answered {
  readonly text: string;
  readonly result?: { readonly entry: Entry; readonly image: ImageRecord };
}

const SIZE_LECTURE = /works well up to|--size|too large/;

describe('edits on an upscaled image, in the playground', () => {
  const t = tempDir();
  let core: Core;
  let bot: Bot;
  let web: WebAdapter;
  let port: number;
  let stream: IncomingMessage;
  let upscaled: Answered['result'] & {};

  beforeAll(async () => {
    const config = loadConfig({
      env: {
        DATA_DIR: t.dir,
        MODELS_DIR: FIXTURE_MODELS,
        MODEL: 'flow-tiny',
        UPSCALER: 'sr-x4-tiny',
        LOG_LEVEL: 'error',
      },
    });
    core = createCore(config, { threads: 1, previewEvery: 0 });
    bot = createBot(core);
    web = new WebAdapter({
      bot,
      signer: new LinkSigner('test-secret-0123456789'),
      host: '127.0.0.1',
      port: 0,
    });
    port = Number(new URL(await web.listen()).port);
    core.queue.recover();
    // The page's event stream, open as the page keeps it (results are delivered on it).
    stream = await new Promise((resolve) => get({ host: '127.0.0.1', port, path: '/api/events' }, resolve));
    stream.resume();
  }, 60_000);

  afterAll(async () => {
    stream.destroy();
    await web.close();
    await core.close();
    t.cleanup();
  });

  const headers = () => ({
    'content-type': 'application/json',
    host: `127.0.0.1:${port}`,
    origin: `http://127.0.0.1:${port}`,
  });

  async function history(): Promise<Entry[]> {
    const answer = await send(port, { path: '/api/history', headers: { host: `127.0.0.1:${port}` } });
    return (JSON.parse(answer.body) as { entries: Entry[] }).entries;
  }

  /** Posts to the playground, waits for the job it queued (if any) and returns its result. */
  async function post(path: string, body: Record<string, unknown>): Promise<Answered> {
    const answer = await send(port, { method: 'POST', path, headers: headers(), body: JSON.stringify(body) });
    expect(answer.status).toBe(200);
    const replies = (JSON.parse(answer.body) as { replies: { entry?: Entry; text?: string }[] }).replies;
    const first = replies[0]!;
    const text = first.entry?.text ?? first.text ?? '';
    const jobId = first.entry?.jobId;
    if (!jobId) return { text };
    await core.queue.onIdle();
    const job = () => core.store.getJob(jobId);
    await waitFor(() => ['succeeded', 'failed'].includes(job()?.state ?? ''), 30_000, 'the job');
    expect(job()?.error ?? null).toBeNull();
    let entry: Entry | undefined;
    // The adapter records the result in the history once it has delivered it.
    for (let tries = 0; tries < 100 && !entry; tries++) {
      entry = (await history()).find((e) => e.fromBot && e.jobId === jobId && e.image !== null);
      if (!entry) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(entry, `the result of ${jobId}`).toBeDefined();
    return { text, result: { entry: entry!, image: core.store.getImage(entry!.image!.imageId)! } };
  }

  const type = (text: string, replyTo?: string) =>
    post('/api/message', { text, ...(replyTo ? { replyTo } : {}) });
  const press = (customId: string) => post('/api/action', { customId });
  const pixelsOf = (image: ImageRecord) => readImage(core.files.resolve(image.filePath));

  it('U1 of a 16:9 grid is larger than the model paints', async () => {
    const grid = await type('/imagine a lighthouse at dusk --ar 16:9 --steps 2 --seed 11');
    const gridImage = grid.result!.image;
    const u1 = await press(encodeAction({ action: 'upscale', imageId: gridImage.id, cell: 1 }));
    upscaled = u1.result!;
    expect(upscaled.image).toMatchObject({ operation: 'upscale', width: 352, height: 192 });
  });

  it('"make it night" on the upscale gives a result of its size, with no size lecture and no flags', async () => {
    const night = await type('make it night', upscaled.entry.messageId);
    expect(night.text).not.toMatch(SIZE_LECTURE);
    const { image, entry } = night.result!;
    expect(image).toMatchObject({ width: 352, height: 192, parentId: upscaled.image.id });
    const file = await sharp(core.files.resolve(image.filePath)).metadata();
    expect([file.width, file.height]).toEqual([352, 192]);
    expect(entry.text).toContain('worked at 168×88 and brought back to 352×192');
    expect(entry.text).not.toMatch(/--\w/);
  });

  it('Vary (Strong) on the upscale gives variations of its size', async () => {
    const varied = await press(encodeAction({ action: 'vary_strong', imageId: upscaled.image.id }));
    expect(varied.text).not.toMatch(SIZE_LECTURE);
    const cells = (varied.result!.image.extra as { cells: string[] }).cells;
    for (const id of cells) expect(core.store.getImage(id)).toMatchObject({ width: 352, height: 192 });
    expect(varied.result!.entry.text).toContain('brought back to 352×192');
  });

  it('"in the top left: add a moon" keeps every pixel outside the mask byte for byte', async () => {
    const moon = await type('in the top left: add a moon', upscaled.entry.messageId);
    const { image } = moon.result!;
    expect(image).toMatchObject({ width: 352, height: 192, operation: 'inpaint' });
    const mask = core.store.getMask(image.maskId!)!;
    const values = await readMask(core.files.resolve(mask.filePath), { width: 352, height: 192 });
    const before = await pixelsOf(upscaled.image);
    const after = await pixelsOf(image);
    let outside = 0;
    let changedInside = 0;
    for (let i = 0; i < values.length; i++) {
      const same = [0, 1, 2].every((c) => after.pixels[3 * i + c] === before.pixels[3 * i + c]);
      if (values[i]! < 0.5) {
        outside++;
        if (!same) throw new Error(`pixel ${i % 352},${Math.floor(i / 352)} outside the mask changed`);
      } else if (!same) changedInside++;
    }
    expect(outside).toBeGreaterThan(values.length / 2);
    expect(changedInside).toBeGreaterThan(0);
  });

  it('pan right on the upscale paints the new area and keeps the upscale itself at full resolution', async () => {
    const panned = await press(encodeAction({ action: 'pan', imageId: upscaled.image.id, cell: 2 }));
    expect(panned.text).not.toMatch(SIZE_LECTURE);
    const { image, entry } = panned.result!;
    expect(image).toMatchObject({ width: 528, height: 192 });
    expect(entry.text).toMatch(/^Panned right: .* · 528×192, the new area painted/);
    const before = await pixelsOf(upscaled.image);
    const after = await pixelsOf(image);
    for (let y = 0; y < 192; y++) {
      const row = (img: { pixels: Uint8Array }, width: number) =>
        Buffer.from(img.pixels.subarray(y * width * 3, (y * width + 352) * 3));
      expect(row(after, 528).equals(row(before, 352)), `row ${y}`).toBe(true);
    }
  });

  it('zoom out 2× on the upscale keeps its size, the upscale in the middle at full resolution', async () => {
    const zoomed = await press(encodeAction({ action: 'zoom', imageId: upscaled.image.id, cell: 20 }));
    expect(zoomed.text).not.toMatch(SIZE_LECTURE);
    expect(zoomed.result!.image).toMatchObject({ width: 352, height: 192 });
    // The middle 176×96 is the upscale made smaller, not the model's 168×88 painting grown back.
    const middle = await resizeRgb(await pixelsOf(upscaled.image), 176, 96);
    const after = await pixelsOf(zoomed.result!.image);
    for (let y = 0; y < 96; y++) {
      const start = ((48 + y) * 352 + 88) * 3;
      const row = Buffer.from(after.pixels.subarray(start, start + 176 * 3));
      expect(
        row.equals(Buffer.from(middle.pixels.subarray(y * 176 * 3, (y + 1) * 176 * 3))),
        `row ${y}`,
      ).toBe(true);
    }
  });

  it('Upscale (Creative) of the upscale refines at the model size and grows to ×2', async () => {
    const creative = await press(
      encodeAction({ action: 'upscale_creative', imageId: upscaled.image.id, cell: 2 }),
    );
    expect(creative.text).not.toMatch(SIZE_LECTURE);
    expect(creative.result!.image).toMatchObject({ width: 704, height: 384, operation: 'upscale' });
    expect(creative.result!.entry.text).toContain('worked at 168×88 and brought back to 704×384');
  });
});

describe('edits on an upscaled image, in Discord', () => {
  const t = tempDir();
  const fake = new FakeDiscord();
  let bot: TestBot;
  let discord: DiscordAdapter;
  const ALICE = user('960000000000000024', 'alice');
  const member = { user: ALICE, permissions: '0' };

  function interaction(type: number, data: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    fake.interact(member, type, data, extra);
  }

  function reply(content: string, replyTo: string) {
    fake.say(ALICE, CHANNEL, content, { replyTo });
  }

  /** The count-th post with a file in the channel, once the adapter recorded its image. */
  async function result(count: number) {
    await waitFor(() => fake.posted().length >= count, 30_000, `post ${count}`);
    const post = fake.posted()[count - 1]!;
    const record = () => bot.core.store.findChatMessage('discord', CHANNEL, post.messageId!);
    await waitFor(() => record()?.imageId != null, 10_000, 'the record');
    return { post, image: bot.core.store.getImage(record()!.imageId!)! };
  }

  beforeAll(async () => {
    await fake.start();
    bot = new TestBot(t.dir);
    discord = await startDiscord(fake, bot);
  });

  afterAll(async () => {
    await discord.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('U1 of a 16:9 grid, then "make it night": a result of the upscale\'s size, no lecture, no flags', async () => {
    interaction(2, {
      id: '1',
      name: 'imagine',
      type: 1,
      options: [{ name: 'prompt', type: 3, value: 'a lighthouse at dusk --ar 16:9 --steps 2 --seed 11' }],
    });
    const grid = await result(1);
    interaction(
      3,
      {
        custom_id: encodeAction({ action: 'upscale', imageId: grid.image.id, cell: 1 }),
        component_type: 2,
      },
      { message: fake.messages.get(grid.post.messageId!) },
    );
    const upscaled = await result(2);
    expect(upscaled.image).toMatchObject({ operation: 'upscale', width: 352, height: 192 });
    reply('make it night', upscaled.post.messageId!);
    const night = await result(3);
    expect(night.image).toMatchObject({ width: 352, height: 192, parentId: upscaled.image.id });
    expect(await sharp(night.post.files[0]!.data).metadata()).toMatchObject({ width: 352, height: 192 });
    const content = String(night.post.body.content);
    expect(content).toContain('worked at 168×88 and brought back to 352×192');
    expect(content).not.toMatch(SIZE_LECTURE);
    expect(content).not.toMatch(/--\w/);
    // Nothing anywhere in the channel lectured about sizes.
    const said = fake.calls.map((call) => JSON.stringify(call.body ?? ''));
    expect(said.some((text) => SIZE_LECTURE.test(text))).toBe(false);
  });
});
