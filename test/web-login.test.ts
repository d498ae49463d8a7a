/**
 * The playground's login and pages, replayed against the real server on loopback: the `?token=` login
 * (a derived cookie, the token gone from the address bar), framing, and the Host forms browsers send on
 * a default port.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedHosts } from '../adapters/web/guard.js';
import { WebAdapter } from '../adapters/web/server.js';
import { type Bot, createBot } from '../commands/index.js';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { LinkSigner } from '../src/links.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { send } from './helpers/http.js';
import { tempDir } from './helpers/tmp.js';

/** Whether this process may listen on 127.0.0.1:80 (root, or a low unprivileged port start). */
async function canListenOnPort80(): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(80, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
const port80 = await canListenOnPort80();

const t = tempDir();
const signer = new LinkSigner('test-secret-0123456789');
const TOKEN = 'a-long-random-web-token-123456';
let core: Core;
let bot: Bot;
let open: WebAdapter;
let guarded: WebAdapter;
let openPort: number;
let guardedPort: number;

beforeAll(async () => {
  const config = loadConfig({
    env: { DATA_DIR: t.dir, MODELS_DIR: FIXTURE_MODELS, MODEL: 'flow-tiny', LOG_LEVEL: 'error' },
  });
  core = createCore(config, { threads: 1, previewEvery: 0 });
  bot = createBot(core, () => undefined);
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
});

afterAll(async () => {
  await open.close();
  await guarded.close();
  await core.close();
  t.cleanup();
});

describe('the login token and the pages', () => {
  it('the ?token= login sets a cookie derived from the token, Secure behind https, and redirects without the token', async () => {
    const host = { host: `127.0.0.1:${guardedPort}` };
    const login = await send(guardedPort, { path: `/?token=${TOKEN}&theme=dark`, headers: host });
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/?theme=dark');
    const cookie = login.headers['set-cookie']![0]!;
    expect(cookie).not.toContain(TOKEN);
    expect(cookie.split('; ').slice(1)).toEqual(['HttpOnly', 'SameSite=Strict', 'Path=/', 'Secure']);
    const session = cookie.split(';')[0]!;
    const withCookie = (value: string) =>
      send(guardedPort, { path: '/api/history', headers: { ...host, cookie: value } });
    expect((await withCookie(session)).status).toBe(200);
    // The raw token is no cookie, under the old name or the new one.
    expect((await withCookie(`flowbot_token=${TOKEN}`)).status).toBe(401);
    expect((await withCookie(`flowbot_session=${TOKEN}`)).status).toBe(401);
    // The redirect stays on this server, however the path is spelled.
    const sneaky = await send(guardedPort, { path: `/.//evil.example/x?token=${TOKEN}`, headers: host });
    expect(sneaky.headers.location).toBe('/evil.example/x');
    // Scripts keep using the token directly, and a wrong one logs nobody in.
    expect((await send(guardedPort, { path: `/api/history?token=wrong`, headers: host })).status).toBe(401);
    const bearer = { ...host, authorization: `Bearer ${TOKEN}` };
    expect((await send(guardedPort, { path: '/api/history', headers: bearer })).status).toBe(200);
  });

  it('over plain http the login cookie is not Secure (the browser would drop it)', async () => {
    const plain = new WebAdapter({ bot, signer, host: '127.0.0.1', port: 0, token: TOKEN });
    const port = Number(new URL(await plain.listen()).port);
    try {
      const login = await send(port, { path: `/?token=${TOKEN}`, headers: { host: `127.0.0.1:${port}` } });
      expect(login.status).toBe(303);
      expect(login.headers.location).toBe('/');
      expect(login.headers['set-cookie']![0]).not.toMatch(/Secure/);
    } finally {
      await plain.close();
    }
  });

  it('no other site may frame the playground, the editor or an error page', async () => {
    const answers = [
      await send(openPort, { path: '/', headers: { host: `127.0.0.1:${openPort}` } }),
      await send(openPort, { path: '/editor?image=x', headers: { host: `127.0.0.1:${openPort}` } }),
      await send(guardedPort, { path: '/', headers: { host: `127.0.0.1:${guardedPort}` } }),
      await send(openPort, { path: '/', headers: { host: 'attacker.example' } }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 403, 401, 421]);
    for (const answer of answers) {
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    }
  });
});

describe('the playground on a default port', () => {
  it('answers the portless Host browsers send on port 80, and on 443 behind an https PUBLIC_URL', () => {
    const on80 = allowedHosts('127.0.0.1', 80, undefined);
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '127.0.0.1:80']) expect(on80).toContain(host);
    expect(allowedHosts('192.168.1.5', 80, undefined)).toContain('192.168.1.5');
    expect(allowedHosts('::1', 80, undefined)).toContain('[::1]');
    const on443 = allowedHosts('127.0.0.1', 443, 'https://flowbot.example.com');
    for (const host of ['127.0.0.1', 'localhost', 'flowbot.example.com']) expect(on443).toContain(host);
    // Elsewhere a portless name means some other server's default port: still refused.
    expect(allowedHosts('127.0.0.1', 443, 'http://flowbot.example.com')).not.toContain('127.0.0.1');
    expect(allowedHosts('127.0.0.1', 8787, undefined)).not.toContain('127.0.0.1');
    expect(allowedHosts('0.0.0.0', 80, undefined)).not.toContain('0.0.0.0');
    expect(on80).not.toContain('attacker.example');
  });

  it.runIf(port80)(
    'a real playground on port 80 answers Host: 127.0.0.1, and still refuses others',
    async () => {
      const on80 = new WebAdapter({ bot, signer, host: '127.0.0.1', port: 80 });
      await on80.listen();
      try {
        const page = await send(80, { path: '/api/history', headers: { host: '127.0.0.1' } });
        expect(page.status).toBe(200);
        const posted = await send(80, {
          method: 'POST',
          path: '/api/message',
          headers: { 'content-type': 'application/json', host: 'localhost', origin: 'http://localhost' },
          body: JSON.stringify({ text: '/help' }),
        });
        expect(posted.status).toBe(200);
        expect((await send(80, { path: '/api/history', headers: { host: 'attacker.example' } })).status).toBe(
          421,
        );
      } finally {
        await on80.close();
      }
    },
  );
});
