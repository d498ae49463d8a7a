/**
 * Start-up never waits on a chat platform: with Slack's and Discord's APIs unreachable, the playground
 * and the queue's recovery come up at once, the platforms are retried with backoff, and the process
 * stays up.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { keepTrying } from '../adapters/retry.js';
import { createLogger, setLogSink } from '../src/log.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { exited, spawnTs, waitForLine } from './helpers/spawn.js';
import { sleep, tempDir, waitFor } from './helpers/tmp.js';

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('start-up with unreachable chat platforms', () => {
  it('serves the playground at once, retries Slack and Discord, and stays up', async () => {
    const data = tempDir();
    const dead = await closedPort();
    const [webPort, slackPort] = [await closedPort(), await closedPort()];
    const child = spawnTs('adapters/main.ts', [], {
      DATA_DIR: data.dir,
      MODELS_DIR: FIXTURE_MODELS,
      MODEL: 'flow-tiny',
      PORT: String(webPort),
      SLACK_BOT_TOKEN: 'xoxb-test-token',
      SLACK_SIGNING_SECRET: 'slack-signing-secret',
      SLACK_PORT: String(slackPort),
      SLACK_API_URL: `http://127.0.0.1:${dead}/api/`,
      DISCORD_TOKEN: 'discord-test-token.abc.def',
      DISCORD_API_URL: `http://127.0.0.1:${dead}/api`,
      LOG_LEVEL: 'info',
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const started = Date.now();
      await waitForLine(child, (line) => line.includes('flowbot playground:'), 30_000);
      const playground = await fetch(`http://127.0.0.1:${webPort}/api/history`);
      expect(playground.status).toBe(200);
      // The queue recovered before any platform connected, and the platforms are being retried.
      await waitFor(() => /Discord could not connect; retrying/.test(stderr), 20_000, 'a Discord retry line');
      expect(stderr).toMatch(/job queue ready/);
      expect(stderr.indexOf('job queue ready')).toBeLessThan(stderr.indexOf('could not connect'));
      await sleep(1500);
      expect(child.exitCode).toBeNull();
      expect(Date.now() - started).toBeLessThan(30_000);
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
      expect(stderr).not.toContain('discord-test-token');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      data.cleanup();
    }
  }, 60_000);

  it('keepTrying backs off, resets between attempts and stops on shutdown', async () => {
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    try {
      let attempts = 0;
      let resets = 0;
      const done = keepTrying(
        'Test platform',
        async () => {
          attempts++;
          if (attempts < 3) throw new Error('ECONNREFUSED');
        },
        {
          log: createLogger('test'),
          signal: new AbortController().signal,
          firstDelayMs: 5,
          reset: async () => {
            resets++;
          },
        },
      );
      await done;
      expect({ attempts, resets }).toEqual({ attempts: 3, resets: 2 });
      expect(lines.filter((l) => l.includes('could not connect; retrying'))).toHaveLength(2);
      expect(lines.some((l) => l.includes('inSeconds=0.01'))).toBe(true);
      const stop = new AbortController();
      const forever = keepTrying('Never', () => Promise.reject(new Error('down')), {
        log: createLogger('test'),
        signal: stop.signal,
        firstDelayMs: 10_000,
      });
      await sleep(20);
      stop.abort();
      await forever;
    } finally {
      setLogSink((line) => process.stderr.write(`${line}\n`));
    }
  });
});
