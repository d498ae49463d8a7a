/**
 * The playground as a hostile page, a careless operator and a chat user with an editor link would use
 * it: each attack from the hardening report, replayed against the real server on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebAdapter } from '../adapters/web/server.js';
import { type Bot, createBot } from '../commands/index.js';
import { adminSettings } from '../commands/settings-model.js';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { LinkSigner } from '../src/links.js';
import { encodePng } from '../src/pipeline/image.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { send } from './helpers/http.js';
import { exited, spawnTs } from './helpers/spawn.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir();
const signer = new LinkSigner('test-secret-0123456789');
let core: Core;
let bot: Bot;
let open: WebAdapter;
let guarded: WebAdapter;
let openPort: number;
let guardedPort: number;
const TOKEN = 'a-long-random-web-token-123456';

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
  bot = createBot(core, (imageId, userId, platform, channelId) =>
    guarded?.editorPath(imageId, userId, platform, channelId),
  );
  open = new WebAdapter({ bot, signer, host: '127.0.0.1', port: 0 });
  guarded = new WebAdapter({
    bot,
    signer,
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    publicUrl: 'https://flowbot.example.com',
  });
  openPort = Number(new URL(await open.listen()).port);
  guardedPort = Number(new URL(await guarded.listen()).port);
  core.queue.recover();
});

afterAll(async () => {
  await open.close();
  await guarded.close();
  await core.close();
  t.cleanup();
});

const local = (port: number) => ({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` });

describe('a playground only its own page can drive', () => {
  it('refuses a cross-site text/plain or form POST, and a JSON POST from another origin', async () => {
    const plain = await send(openPort, {
      method: 'POST',
      path: '/api/message',
      headers: { 'content-type': 'text/plain', origin: 'http://evil.example', host: `127.0.0.1:${openPort}` },
      body: JSON.stringify({ text: '/settings admin max-steps 150' }),
    });
    expect(plain).toMatchObject({ status: 415 });
    const form = await send(openPort, {
      method: 'POST',
      path: '/api/message',
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: `127.0.0.1:${openPort}` },
      body: 'text=/settings admin jobs-per-hour 10000',
    });
    expect(form.status).toBe(415);
    const foreign = await send(openPort, {
      method: 'POST',
      path: '/api/message',
      headers: {
        'content-type': 'application/json',
        origin: 'http://evil.example',
        host: `127.0.0.1:${openPort}`,
      },
      body: JSON.stringify({ text: '/settings admin max-steps 150' }),
    });
    expect(foreign).toMatchObject({ status: 403 });
    expect(JSON.parse(foreign.body).error).toBe('This request did not come from the playground page.');
    expect(adminSettings(core.store).maxSteps).toBeUndefined();
    expect(adminSettings(core.store).jobsPerHour).toBeUndefined();
    // The page itself (same origin, JSON) works.
    const own = await send(openPort, {
      method: 'POST',
      path: '/api/message',
      headers: { 'content-type': 'application/json', ...local(openPort) },
      body: JSON.stringify({ text: '/help' }),
    });
    expect(own.status).toBe(200);
  });

  it('answers only its own Host names (no DNS rebinding)', async () => {
    const rebound = await send(openPort, { path: '/api/history', headers: { host: 'attacker.example' } });
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body).error).toMatch(/does not answer for "attacker.example"/);
    expect(
      (await send(openPort, { path: '/api/history', headers: { host: `localhost:${openPort}` } })).status,
    ).toBe(200);
    const publicHost = await send(guardedPort, {
      path: '/api/history',
      headers: { host: 'flowbot.example.com', authorization: `Bearer ${TOKEN}` },
    });
    expect(publicHost.status).toBe(200);
  });

  it('answers 413 with its message for a 50 MB body and 400 for malformed JSON', async () => {
    const huge = await send(openPort, {
      method: 'POST',
      path: '/api/message',
      headers: { 'content-type': 'application/json', 'content-length': 50 * 1024 * 1024, ...local(openPort) },
      body: Buffer.alloc(64 * 1024, 32),
      partial: true,
    });
    expect(huge.status).toBe(413);
    expect(JSON.parse(huge.body).error).toBe('That upload is too large (the limit is 12 MB).');
    const broken = await send(openPort, {
      method: 'POST',
      path: '/api/message',
      headers: { 'content-type': 'application/json', ...local(openPort) },
      body: '{"text": ',
    });
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.body).error).toBe('That request was not valid JSON.');
  });

  it('refuses to start on a non-loopback HOST without WEB_TOKEN, naming WEB_TOKEN', async () => {
    expect(() => new WebAdapter({ bot, signer, host: '0.0.0.0', port: 0 })).toThrow(ConfigError);
    expect(() => new WebAdapter({ bot, signer, host: '0.0.0.0', port: 0 })).toThrow(/needs WEB_TOKEN/);
    const data = tempDir();
    try {
      const child = spawnTs('adapters/main.ts', [], {
        HOST: '0.0.0.0',
        PORT: '18999',
        DATA_DIR: data.dir,
        MODELS_DIR: FIXTURE_MODELS,
        MODEL: 'flow-tiny',
      });
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      expect(await exited(child)).toBe(78);
      expect(stderr).toMatch(/HOST=0\.0\.0\.0 .* needs WEB_TOKEN/);
    } finally {
      data.cleanup();
    }
  });

  it("with WEB_TOKEN set, needs the token, but a chat user's signed editor link works alone", async () => {
    expect(
      (await send(guardedPort, { path: '/api/history', headers: { host: `127.0.0.1:${guardedPort}` } }))
        .status,
    ).toBe(401);
    // An image made from Slack by dana.
    const made = await bot.handle({
      kind: 'command',
      name: 'imagine',
      text: 'a red apple --n 1 --seed 2 --steps 2',
      ctx: { platform: 'slack', userId: 'dana', channelId: 'C1', isAdmin: false },
    });
    expect(made[0]!.type).toBe('queued');
    await core.queue.onIdle();
    const jobId = made[0]!.type === 'queued' ? made[0]!.jobId : '';
    const view = bot.resultView(jobId)!;
    // The public result carries no signed link; pressing Vary region answers the presser privately.
    expect(view.buttons.find((b) => b.label === 'Vary region')).toMatchObject({ style: 'secondary' });
    expect(view.buttons.some((b) => b.url)).toBe(false);
    const pressed = await bot.handle({
      kind: 'action',
      customId: view.buttons.find((b) => b.label === 'Vary region')!.customId,
      ctx: { platform: 'slack', userId: 'dana', channelId: 'C1', isAdmin: false },
    });
    expect(pressed[0]).toMatchObject({ type: 'text', ephemeral: true });
    const query = signer.query(view.imageId, 'dana', 'slack', 'C1');
    const host = { host: `127.0.0.1:${guardedPort}` };
    const page = await send(guardedPort, { path: `/editor?${query}`, headers: host });
    expect(page.status).toBe(200);
    expect((await send(guardedPort, { path: '/editor.js', headers: host })).status).toBe(200);
    expect(
      (await send(guardedPort, { path: `/images/${view.imageId}.png?${query}`, headers: host })).status,
    ).toBe(200);
    // Another image with this link: refused.
    expect((await send(guardedPort, { path: `/images/zzzzzz.png?${query}`, headers: host })).status).toBe(
      401,
    );
    const mask = await encodePng({ width: 64, height: 64, pixels: new Uint8Array(64 * 64 * 3).fill(255) });
    const applied = await send(guardedPort, {
      method: 'POST',
      path: '/api/editor',
      headers: { 'content-type': 'application/json', ...local(guardedPort) },
      body: JSON.stringify({
        query,
        prompt: 'a bite mark',
        mask: `data:image/png;base64,${mask.toString('base64')}`,
      }),
    });
    expect(applied.status).toBe(200);
    expect(JSON.parse(applied.body).replies[0]).toMatchObject({ type: 'queued' });
    const forged = await send(guardedPort, {
      method: 'POST',
      path: '/api/editor',
      headers: { 'content-type': 'application/json', ...local(guardedPort) },
      body: JSON.stringify({
        query: query.replace('user=dana', 'user=eve'),
        prompt: 'x',
        mask: 'data:image/png;base64,AA==',
      }),
    });
    expect(forged.status).toBe(403);
    await core.queue.onIdle();
  });

  it('fills the editor page safely: "$`" and "$&" in a prompt stay text', async () => {
    const made = await bot.handle({
      kind: 'command',
      name: 'imagine',
      text: 'a sign that says $` and $& and <b>bold</b> --n 1 --steps 2',
      ctx: { platform: 'web', userId: 'local', channelId: 'playground', isAdmin: true },
    });
    await core.queue.onIdle();
    const view = bot.resultView(made[0]!.type === 'queued' ? made[0]!.jobId : '')!;
    const query = signer.query(view.imageId, 'local', 'web', 'playground');
    const page = await send(openPort, {
      path: `/editor?${query}`,
      headers: { host: `127.0.0.1:${openPort}` },
    });
    expect(page.status).toBe(200);
    expect(page.body).toContain('a sign that says $` and $&#38; and &#60;b&#62;bold&#60;/b&#62;');
    expect(page.body).not.toContain('<b>bold');
    // Before, "$`" pasted the page's own HTML before the placeholder into the page a second time.
    expect(page.body.match(/<!doctype/gi)).toHaveLength(1);
  });
});

describe('the playground conversation', () => {
  const post = async (text: string) => {
    const answer = await send(openPort, {
      method: 'POST',
      path: '/api/message',
      headers: { 'content-type': 'application/json', ...local(openPort) },
      body: JSON.stringify({ text }),
    });
    return JSON.parse(answer.body) as {
      replies: { type: string; entry?: { image?: { imageId: string } | null } }[];
    };
  };

  it('an edit typed without choosing a message applies to the latest image; a description is a new prompt', async () => {
    await post('a red apple --n 1 --steps 2 --seed 4');
    await core.queue.onIdle();
    const latest = core.store.latestImageInThread('web', 'playground', 'playground')!;
    await post('darker');
    await core.queue.onIdle();
    const edited = core.store.latestImageInThread('web', 'playground', 'playground')!;
    const record = core.store.getImage(edited.imageId!)!;
    expect(record).toMatchObject({ operation: 'edit', parentId: latest.imageId });
    const fresh = await post('a green pear --n 1 --steps 2');
    expect(fresh.replies[0]).toMatchObject({ type: 'entry' });
    await core.queue.onIdle();
    const newest = core.store.getImage(
      core.store.latestImageInThread('web', 'playground', 'playground')!.imageId!,
    )!;
    expect(newest).toMatchObject({ operation: 'generate', prompt: 'a green pear' });
  });
});
