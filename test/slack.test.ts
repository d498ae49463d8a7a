/**
 * The Slack adapter with the real @slack/bolt against a loopback Slack: signed HTTP requests in, Web API
 * calls (and the external upload flow) out; and a Socket Mode start-up over a loopback WebSocket.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackAdapter } from '../adapters/slack/adapter.js';
import { WebAdapter } from '../adapters/web/server.js';
import { encodeAction } from '../commands/actions.js';
import { adminSettings } from '../commands/settings-model.js';
import { waitNotice } from '../commands/wait-notices.js';

const NO_WORKER_NOTICE = waitNotice('no-worker');

import { LinkSigner } from '../src/links.js';
import { TestBot } from './helpers/bot.js';
import { FakeSlack } from './helpers/fake-slack.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const SECRET = 'slack-signing-secret-for-tests';

function sign(body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return { 'x-slack-signature': signature, 'x-slack-request-timestamp': String(timestamp) };
}

describe('Slack adapter over HTTP', () => {
  const t = tempDir();
  const fake = new FakeSlack();
  let bot: TestBot;
  let slack: SlackAdapter;
  let url: string;

  async function send(body: string, type: string, headers = sign(body)): Promise<Response> {
    return fetch(url, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
  }
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const event = (inner: Record<string, unknown>) =>
    JSON.stringify({
      type: 'event_callback',
      team_id: 'T1',
      api_app_id: 'A1',
      event_id: `Ev${Math.random()}`,
      event_time: 1,
      event: inner,
    });
  const uploads = () => fake.of('files.completeUploadExternal');
  async function pngOf(index: number) {
    const fileId = (uploads()[index]!.args.files as { id: string }[])[0]!.id;
    const ts = fake.shareTsOf(fileId)!;
    // The adapter records the message only once Slack has reported where the file was shared.
    await waitFor(
      () => bot.core.store.findChatMessage('slack', 'C1', ts) !== undefined || index < 0,
      10_000,
      'the share record',
    );
    return { fileId, meta: await sharp(fake.uploads.get(fileId)!).metadata(), ts };
  }

  beforeAll(async () => {
    const base = await fake.start();
    bot = new TestBot(t.dir);
    slack = new SlackAdapter({
      bot: bot.bot,
      botToken: 'xoxb-test',
      signingSecret: SECRET,
      host: '127.0.0.1',
      port: 0,
      apiUrl: `${base}/api`,
      progressIntervalMs: 0,
    });
    const port = await slack.start();
    url = `http://127.0.0.1:${port}/slack/events`;
  });

  afterAll(async () => {
    await slack.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('/imagine acks within 3 s and uploads the grid with its buttons', async () => {
    const started = Date.now();
    const res = await send(
      form({
        command: '/imagine',
        text: 'a red apple --seed 3',
        user_id: 'U1',
        channel_id: 'C1',
        team_id: 'T1',
        trigger_id: 'tr1',
        response_url: `${fake.base}/respond`,
      }),
      'application/x-www-form-urlencoded',
    );
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    await waitFor(() => uploads().length === 1, 20_000, 'the grid upload');
    const { meta } = await pngOf(0);
    expect(meta).toMatchObject({ format: 'png', width: 128, height: 128 });
    expect(uploads()[0]!.args).toMatchObject({ channel_id: 'C1' });
    // One message per job: the status message is updated into the result; the file sits in its thread.
    const status = fake.of('chat.postMessage')[0]!;
    await waitFor(
      () => fake.of('chat.update').some((c) => Array.isArray(c.args.blocks)),
      5000,
      'the buttons',
    );
    const withButtons = fake.of('chat.update').find((c) => Array.isArray(c.args.blocks))!;
    expect(withButtons.args).toMatchObject({ channel: 'C1' });
    expect(uploads()[0]!.args).toMatchObject({ thread_ts: withButtons.args.ts });
    expect(fake.of('chat.postMessage').filter((c) => Array.isArray(c.args.blocks))).toEqual([]);
    expect(status.args.text).toMatch(/^<@U1> /);
    const labels = (withButtons.args.blocks as { type: string; elements?: { text?: { text: string } }[] }[])
      .filter((b) => b.type === 'actions')
      .flatMap((b) => b.elements!.map((e) => e.text!.text));
    expect(labels).toEqual(['U1', 'U2', 'U3', 'U4', '🔄', 'V1', 'V2', 'V3', 'V4', 'Vary region']);
    expect(JSON.stringify(withButtons.args.blocks)).toMatch(/seed 3 · #\w+/);
    expect(fake.of('chat.postMessage')[0]!.args.text).toMatch(/^<@U1> Imagined: "a red apple"/);
  });

  it('answers bad flags with an ephemeral message and queues nothing', async () => {
    const before = fake.calls.length;
    const res = await send(
      form({
        command: '/imagine',
        text: 'a cat --stpes 3',
        user_id: 'U1',
        channel_id: 'C1',
        team_id: 'T1',
        trigger_id: 'tr',
      }),
      'application/x-www-form-urlencoded',
    );
    const body = (await res.json()) as { response_type: string; text: string };
    expect(body).toMatchObject({ response_type: 'ephemeral' });
    expect(body.text).toContain('Did you mean --steps?');
    expect(fake.calls.slice(before).some((c) => c.method === 'chat.postMessage')).toBe(false);
  });

  it('a mag reaction uploads a larger PNG into the image thread', async () => {
    const grid = await pngOf(0);
    await send(
      event({
        type: 'reaction_added',
        user: 'U2',
        reaction: 'mag',
        item: { type: 'message', channel: 'C1', ts: grid.ts },
        event_ts: '1.1',
      }),
      'application/json',
    );
    await waitFor(() => uploads().length === 2, 20_000, 'the upscale upload');
    const up = await pngOf(1);
    // Larger than the 128 px grid message it was asked from.
    expect(up.meta.width).toBe(256);
    // Into the thread the grid's file sits in: under the grid's result message.
    const gridThread = bot.core.store.findChatMessage('slack', 'C1', grid.ts)!.threadId;
    expect(uploads()[1]!.args).toMatchObject({ channel_id: 'C1', thread_ts: gridThread });
    const record = bot.core.store.findChatMessage('slack', 'C1', up.ts)!;
    expect(bot.core.store.getImage(record.imageId!)).toMatchObject({ operation: 'upscale', width: 256 });
  });

  it('a thread reply "make it night" posts a refined PNG in that thread', async () => {
    const grid = await pngOf(0);
    await send(
      event({
        type: 'message',
        channel: 'C1',
        user: 'U1',
        text: '#2 make it night',
        ts: '1700000999.000100',
        thread_ts: grid.ts,
        event_ts: '1.2',
      }),
      'application/json',
    );
    await waitFor(() => uploads().length === 3, 20_000, 'the refined upload');
    expect(uploads()[2]!.args).toMatchObject({ thread_ts: grid.ts });
    const refined = await pngOf(2);
    const record = bot.core.store.findChatMessage('slack', 'C1', refined.ts)!;
    expect(bot.core.store.getImage(record.imageId!)).toMatchObject({
      operation: 'variation',
      prompt: 'a red apple, night',
      strength: 0.55,
    });
  });

  it('a V1 button makes variations, also for buttons made before a restart', async () => {
    const gridId = bot.core.store.findChatMessage('slack', 'C1', (await pngOf(0)).ts)!.imageId!;
    const payload = {
      type: 'block_actions',
      user: { id: 'U3' },
      channel: { id: 'C1' },
      trigger_id: 'tr2',
      team: { id: 'T1' },
      api_app_id: 'A1',
      message: { ts: '1700000100.000100' },
      container: { type: 'message' },
      actions: [
        {
          action_id: encodeAction({ action: 'vary', imageId: gridId, cell: 1 }),
          block_id: 'row1-0',
          type: 'button',
          value: 'x',
          action_ts: '1',
        },
      ],
    };
    await send(form({ payload: JSON.stringify(payload) }), 'application/x-www-form-urlencoded');
    await waitFor(() => uploads().length === 4, 20_000, 'the variation upload');
    const varied = await pngOf(3);
    const record = bot.core.store.findChatMessage('slack', 'C1', varied.ts)!;
    const image = bot.core.store.getImage(record.imageId!)!;
    expect(image.operation).toBe('grid');
    expect(bot.core.store.getImage((image.extra as { cells: string[] }).cells[0]!)).toMatchObject({
      operation: 'variation',
    });
  });

  it('handles a retry of an event it never saw, and acknowledges a replayed event_id without handling it again', async () => {
    const grid = await pngOf(0);
    const upscales = () => bot.core.store.countJobsSince('U3', 0);
    const before = upscales();
    const uploadsBefore = uploads().length;
    const reaction = (eventId: string) =>
      JSON.stringify({
        type: 'event_callback',
        team_id: 'T1',
        api_app_id: 'A1',
        event_id: eventId,
        event_time: 1,
        event: {
          type: 'reaction_added',
          user: 'U3',
          reaction: 'mag',
          item: { type: 'message', channel: 'C1', ts: grid.ts },
          event_ts: '2.1',
        },
      });
    const retry = (body: string, num: number) => ({
      ...sign(body),
      'x-slack-retry-num': String(num),
      'x-slack-retry-reason': 'http_error',
    });
    const replayed = reaction('EvReplayed1');
    expect((await send(replayed, 'application/json')).status).toBe(200);
    expect((await send(replayed, 'application/json')).status).toBe(200);
    expect((await send(replayed, 'application/json', retry(replayed, 1))).status).toBe(200);
    // Sent while flowbot was down: its first delivery here is already a retry.
    const missed = reaction('EvMissedWhileDown');
    expect((await send(missed, 'application/json', retry(missed, 1))).status).toBe(200);
    expect((await send(missed, 'application/json', retry(missed, 2))).status).toBe(200);
    await bot.core.queue.onIdle();
    expect(upscales()).toBe(before + 2);
    // Let both results finish posting (their uploads and share records) before the next test.
    await waitFor(() => uploads().length === uploadsBefore + 2, 20_000, 'the two upscale uploads');
    await pngOf(uploadsBefore);
    await pngOf(uploadsBefore + 1);
  });

  const slash = async (command: string, text: string, user = 'U1') => {
    const res = await send(
      form({
        command,
        text,
        user_id: user,
        channel_id: 'C1',
        team_id: 'T1',
        trigger_id: 'tr',
        response_url: `${fake.base}/respond`,
      }),
      'application/x-www-form-urlencoded',
    );
    const body = await res.text();
    return { status: res.status, text: body ? ((JSON.parse(body) as { text?: string }).text ?? '') : '' };
  };

  it('/flowbot runs settings, info and help; a workspace admin can set an admin limit', async () => {
    expect((await slash('/flowbot', 'settings')).text).toMatch(/^Your defaults:/);
    expect((await slash('/flowbot', 'help')).text).toMatch(/imagine/i);
    expect((await slash('/flowbot', 'dance')).text).toMatch(
      /^Unknown command "dance"\. Try \/flowbot settings/,
    );
    expect((await slash('/flowbot', 'settings admin max-steps 30', 'U1')).text).toBe(
      'Only admins can change channel defaults and server limits.',
    );
    expect((await slash('/flowbot', 'settings admin max-steps 30', 'UADMIN')).text).toBe(
      'max-steps is now 30.',
    );
    expect(adminSettings(bot.core.store).maxSteps).toBe(30);
    expect(fake.of('users.info').some((c) => c.args.user === 'UADMIN')).toBe(true);
    expect((await slash('/flowbot', 'settings admin max-steps reset', 'UOWNER')).text).toBe(
      'max-steps is cleared.',
    );
    const grid = await pngOf(0);
    const record = bot.core.store.findChatMessage('slack', 'C1', grid.ts)!;
    expect((await slash('/flowbot', `info ${record.imageId}`)).text).toContain(`#${record.imageId}`);
  });

  it('a conversation in a thread chains: make it night, more stars, undo, undo, redo', async () => {
    const started = uploads().length;
    await slash('/imagine', 'a red apple --n 1 --seed 3');
    await waitFor(() => uploads().length === started + 1, 20_000, 'the first image');
    const root = await pngOf(started);
    const rootImage = bot.core.store.findChatMessage('slack', 'C1', root.ts)!.imageId!;
    let count = started + 1;
    let n = 0;
    /** A plain reply in the thread; resolves with the image it posted and that image's record. */
    const say = async (text: string) => {
      await send(
        event({
          type: 'message',
          channel: 'C1',
          user: 'U1',
          text,
          ts: `1800000000.${++n}`,
          thread_ts: root.ts,
          event_ts: `9.${n}`,
        }),
        'application/json',
      );
      await waitFor(() => uploads().length === count + 1, 20_000, `the answer to "${text}"`);
      const posted = await pngOf(count++);
      expect(uploads()[count - 1]!.args).toMatchObject({ thread_ts: root.ts });
      const id = bot.core.store.findChatMessage('slack', 'C1', posted.ts)!.imageId!;
      return { id, image: bot.core.store.getImage(id)!, bytes: fake.uploads.get(posted.fileId)! };
    };
    const info = async (id: string) => (await slash('/flowbot', `info ${id}`)).text;
    const night = await say('make it night');
    expect(night.image).toMatchObject({ parentId: rootImage, prompt: 'a red apple, night' });
    expect(await info(night.id)).toContain(`Lineage: #${night.id} (variation) ← #${rootImage} (generate)`);
    const stars = await say('more stars');
    expect(stars.image).toMatchObject({ parentId: night.id, prompt: 'a red apple, night, (stars:1.3)' });
    expect(await info(stars.id)).toContain(
      `#${stars.id} (variation) ← #${night.id} (variation) ← #${rootImage}`,
    );
    const back = await say('undo');
    expect(back.id).toBe(night.id);
    expect(back.bytes.equals(readFileSync(bot.core.files.resolve(night.image.filePath)))).toBe(true);
    const backAgain = await say('undo');
    expect(backAgain.id).toBe(rootImage);
    expect(
      backAgain.bytes.equals(
        readFileSync(bot.core.files.resolve(bot.core.store.getImage(rootImage)!.filePath)),
      ),
    ).toBe(true);
    const forward = await say('redo');
    expect(forward.id).toBe(night.id);
  });

  it('with settings private on, results arrive by DM', async () => {
    expect((await slash('/flowbot', 'settings private on', 'U5')).text).toBe(
      'Your default private is now on.',
    );
    const before = uploads().length;
    await slash('/imagine', 'a pear --n 1 --seed 2', 'U5');
    await waitFor(() => uploads().length === before + 1, 20_000, 'the private upload');
    expect(uploads()[before]!.args).toMatchObject({ channel_id: 'DDM1' });
    expect(fake.of('conversations.open').at(-1)!.args).toMatchObject({ users: 'U5' });
    const fileId = (uploads()[before]!.args.files as { id: string }[])[0]!.id;
    await waitFor(
      () => {
        const ts = fake.shareTsOf(fileId);
        return ts !== undefined && bot.core.store.findChatMessage('slack', 'DDM1', ts) !== undefined;
      },
      10_000,
      'the DM record',
    );
  });

  it('rejects unsigned and stale requests with 401 and runs nothing', async () => {
    const jobsBefore = bot.core.store.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number };
    const body = form({
      command: '/imagine',
      text: 'a pear',
      user_id: 'U1',
      channel_id: 'C1',
      team_id: 'T1',
    });
    expect((await send(body, 'application/x-www-form-urlencoded', {})).status).toBe(401);
    expect(
      (await send(body, 'application/x-www-form-urlencoded', sign(body, Math.floor(Date.now() / 1000) - 600)))
        .status,
    ).toBe(401);
    expect(
      (
        await send(body, 'application/x-www-form-urlencoded', {
          ...sign(body),
          'x-slack-signature': 'v0=deadbeef',
        })
      ).status,
    ).toBe(401);
    const jobsAfter = bot.core.store.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number };
    expect(jobsAfter.n).toBe(jobsBefore.n);
  });
});

describe('Slack HTTP receiver address', () => {
  it('binds HOST, not every interface', async () => {
    const t = tempDir();
    const fake = new FakeSlack();
    const base = await fake.start();
    const bot = new TestBot(t.dir);
    // 127.0.0.2 is loopback too, but another address: bound there, 127.0.0.1 reaches nothing.
    const slack = new SlackAdapter({
      bot: bot.bot,
      botToken: 'xoxb-test',
      signingSecret: SECRET,
      host: '127.0.0.2',
      port: 0,
      apiUrl: `${base}/api`,
    });
    try {
      const port = await slack.start();
      const unsigned = (host: string) =>
        fetch(`http://${host}:${port}/slack/events`, { method: 'POST', body: '{}' }).then(
          (res) => res.status,
          (error: Error & { cause?: { code?: string } }) => error.cause?.code,
        );
      expect(await unsigned('127.0.0.2')).toBe(401);
      expect(await unsigned('127.0.0.1')).toBe('ECONNREFUSED');
    } finally {
      await slack.stop();
      await bot.close();
      await fake.stop();
      t.cleanup();
    }
  });
});

describe('Slack adapter in Socket Mode', () => {
  it('connects over the WebSocket, acks envelopes and runs /imagine', async () => {
    const t = tempDir();
    const fake = new FakeSlack();
    const base = await fake.start();
    const bot = new TestBot(t.dir);
    const slack = new SlackAdapter({
      bot: bot.bot,
      botToken: 'xoxb-test',
      appToken: 'xapp-test',
      host: '127.0.0.1',
      port: 0,
      apiUrl: `${base}/api`,
    });
    try {
      await slack.start();
      await waitFor(() => fake.socketConnected, 5000, 'the socket');
      expect(fake.of('apps.connections.open')).toHaveLength(1);
      await fake.sendEnvelope('slash_commands', {
        command: '/imagine',
        text: 'a plum --n 1',
        user_id: 'U9',
        channel_id: 'C9',
        team_id: 'T1',
        trigger_id: 't',
      });
      await waitFor(() => fake.of('files.completeUploadExternal').length === 1, 20_000, 'the upload');
      expect(fake.of('files.completeUploadExternal')[0]!.args).toMatchObject({ channel_id: 'C9' });
      await waitFor(() => fake.of('files.info').length >= 2, 10_000, 'the share lookup');
    } finally {
      await slack.stop();
      await bot.close();
      await fake.stop();
      t.cleanup();
    }
  });
});

describe('Slack progress previews with PUBLIC_URL', () => {
  const t = tempDir();
  const fake = new FakeSlack();
  let bot: TestBot;
  let slack: SlackAdapter;
  let web: WebAdapter;
  let webBase: string;
  let eventsUrl: string;

  beforeAll(async () => {
    const base = await fake.start();
    bot = new TestBot(t.dir, {}, { previewEvery: 1 });
    const signer = new LinkSigner('preview-secret-0123456789');
    web = new WebAdapter({ bot: bot.bot, signer, host: '127.0.0.1', port: 0 });
    webBase = await web.listen();
    slack = new SlackAdapter({
      bot: bot.bot,
      botToken: 'xoxb-test',
      signingSecret: SECRET,
      host: '127.0.0.1',
      port: 0,
      apiUrl: `${base}/api`,
      progressIntervalMs: 0,
      previewUrl: (jobId) => `${webBase}${web.previewPath(jobId)}`,
    });
    eventsUrl = `http://127.0.0.1:${await slack.start()}/slack/events`;
  });

  /** /imagine through the adapter; resolves once its status message is posted and recorded. */
  async function imagine(text: string): Promise<{ jobId: string; ts: string }> {
    const before = fake.of('chat.postMessage').length;
    const body = new URLSearchParams({
      command: '/imagine',
      text,
      user_id: 'U1',
      channel_id: 'C1',
      team_id: 'T1',
    });
    const res = await fetch(eventsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...sign(body.toString()) },
      body: body.toString(),
    });
    expect(res.status).toBe(200);
    await waitFor(() => fake.of('chat.postMessage').length > before, 5000, 'the status message');
    const ts = fake.of('chat.postMessage')[before]!.ts!;
    await waitFor(() => bot.core.store.findChatMessage('slack', 'C1', ts) !== undefined, 5000, 'its record');
    return { jobId: bot.core.store.findChatMessage('slack', 'C1', ts)!.jobId!, ts };
  }

  afterAll(async () => {
    await slack.stop();
    await web.close();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('shows the preview image, served by the playground under a signed link, in the status message', async () => {
    const { jobId } = await imagine('a red apple --steps 4 --seed 1');
    await bot.core.queue.onIdle();
    const updates = fake.of('chat.update').filter((c) => Array.isArray(c.args.blocks));
    expect(updates.length).toBeGreaterThan(0);
    const image = (updates[0]!.args.blocks as { type: string; image_url?: string }[]).find(
      (b) => b.type === 'image',
    )!;
    expect(image.image_url).toMatch(
      new RegExp(`^${webBase}/previews/${jobId}\\.png\\?sig=[\\w-]+&step=\\d$`),
    );
    // After the job the preview is gone; a forged signature never works.
    const url = new URL(image.image_url!);
    expect((await fetch(url)).status).toBe(404);
    url.searchParams.set('sig', 'forged');
    expect((await fetch(url)).status).toBe(403);
    // While a job runs, its latest preview is served.
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const running = { ...bot.core.store.getJob(jobId)!, id: 'run123' };
    bot.core.queue.emit('progress', running, { step: 1, total: 4, preview: png });
    const live = await fetch(`${webBase}${web.previewPath('run123')}`);
    expect(live.status).toBe(200);
    expect(Buffer.from(await live.arrayBuffer()).equals(Buffer.from(png))).toBe(true);
  });
  it('tells the person in the status message when their job waits for an image worker', async () => {
    bot.core.queue.setConcurrency(0); // what the Redis path does while no worker is running
    try {
      const { jobId, ts } = await imagine('a waiting apple --seed 2');
      bot.core.queue.notify(jobId, 'no-worker');
      await waitFor(
        () =>
          fake.of('chat.update').some((c) => c.args.ts === ts && c.args.text === `⏳ ${NO_WORKER_NOTICE}`),
        5000,
        'the notice',
      );
    } finally {
      bot.core.queue.setConcurrency(1);
    }
    await bot.core.queue.onIdle();
  });
});
