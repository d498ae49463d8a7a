/**
 * Attachment downloads: only the platform's own attachment addresses (HTTPS on Discord's CDN, Slack's
 * file host), no redirects, at most the bytes asked for, and a time limit for a server that stalls.
 * The loopback origin is allowed only where a test names it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISCORD_ATTACHMENTS, downloader, isAttachmentUrl, slackFiles } from '../adapters/download.js';

let server: Server;
let origin: string;
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/stall') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(Buffer.alloc(10)); // and never ends
      return;
    }
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/big' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end(Buffer.alloc(5000, 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('attachment addresses', () => {
  it('are Discord’s CDN attachment paths and Slack’s private file paths, over HTTPS', () => {
    expect(isAttachmentUrl('https://cdn.discordapp.com/attachments/1/2/a.png', DISCORD_ATTACHMENTS)).toBe(
      true,
    );
    expect(
      isAttachmentUrl('https://media.discordapp.net/attachments/1/2/a.png?ex=1', DISCORD_ATTACHMENTS),
    ).toBe(true);
    expect(isAttachmentUrl('https://files.slack.com/files-pri/T1-F1/a.png', slackFiles('xoxb'))).toBe(true);
  });

  it('are nothing else: other hosts, plain HTTP, other ports and paths, look-alike hosts', () => {
    for (const url of [
      'http://cdn.discordapp.com/attachments/1/2/a.png',
      'https://cdn.discordapp.com:8443/attachments/1/2/a.png',
      'https://cdn.discordapp.com/avatars/1/a.png',
      'https://cdn.discordapp.com.evil.example/attachments/1/a.png',
      'https://example.com/attachments/1/a.png',
      `http://${'127.0.0.1'}/attachments/1/a.png`,
      'not a url',
    ])
      expect(isAttachmentUrl(url, DISCORD_ATTACHMENTS), url).toBe(false);
    expect(isAttachmentUrl('https://files.slack.com/files-pub/T1-F1/a.png', slackFiles('xoxb'))).toBe(false);
  });
});

describe('a download', () => {
  it('of an address outside the platform is never requested', async () => {
    const before = requests.length;
    expect(await downloader(`http://${origin}/file`, DISCORD_ATTACHMENTS)(10_000)).toBeUndefined();
    expect(requests).toHaveLength(before);
  });

  it('reads one byte past the limit at most, from an origin a test names', async () => {
    const source = { ...DISCORD_ATTACHMENTS, testOrigins: [origin] };
    expect((await downloader(`http://${origin}/file`, source)(100_000))!.byteLength).toBe(5000);
    expect((await downloader(`http://${origin}/file`, source)(1000))!.byteLength).toBe(1001);
  });

  it('follows no redirect', async () => {
    const source = { ...DISCORD_ATTACHMENTS, testOrigins: [origin] };
    expect(await downloader(`http://${origin}/redirect`, source)(10_000)).toBeUndefined();
  });

  it('from a server that stalls gives up at the time limit', async () => {
    const source = { ...DISCORD_ATTACHMENTS, testOrigins: [origin], timeoutMs: 300 };
    // Without the limit this would wait for ever (the test's own timeout would fail it).
    expect(await downloader(`http://${origin}/stall`, source)(10_000)).toBeUndefined();
  });
});
