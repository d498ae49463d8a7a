/**
 * Issue 23 in the playground, through the real server on loopback: a job leaves one message (its result
 * or its failure takes the status message's place, on the page's event stream and in the history), and
 * the person's own line comes back ahead of flowbot's answer.
 */
import { get, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebAdapter } from '../adapters/web/server.js';
import { type Bot, createBot } from '../commands/index.js';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { LinkSigner } from '../src/links.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { send } from './helpers/http.js';
import { tempDir, waitFor } from './helpers/tmp.js';

/** An entry as the page gets it. */
interface Entry {
  readonly messageId: string;
  readonly fromBot: boolean;
  readonly text: string;
  readonly jobId: string | null;
  readonly image: { readonly imageId: string } | null;
}
interface StreamEvent {
  readonly type: string;
  readonly entry?: Entry;
  readonly replaces?: string;
}

describe('the playground answers a job with one message', () => {
  const t = tempDir();
  let core: Core;
  let bot: Bot;
  let web: WebAdapter;
  let port: number;
  let stream: IncomingMessage;
  const events: StreamEvent[] = [];

  beforeAll(async () => {
    const config = loadConfig({
      env: { DATA_DIR: t.dir, MODELS_DIR: FIXTURE_MODELS, MODEL: 'flow-tiny', LOG_LEVEL: 'error' },
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
    stream = await new Promise((resolve) => get({ host: '127.0.0.1', port, path: '/api/events' }, resolve));
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const blocks = buffered.split('\n\n');
      buffered = blocks.pop() ?? '';
      for (const block of blocks)
        for (const line of block.split('\n'))
          if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)) as StreamEvent);
    });
  }, 60_000);

  afterAll(async () => {
    stream.destroy();
    await web.close();
    await core.close();
    t.cleanup();
  });

  async function type(text: string, replyTo?: string) {
    const answer = await send(port, {
      method: 'POST',
      path: '/api/message',
      headers: {
        'content-type': 'application/json',
        host: `127.0.0.1:${port}`,
        origin: `http://127.0.0.1:${port}`,
      },
      body: JSON.stringify({ text, ...(replyTo ? { replyTo } : {}) }),
    });
    expect(answer.status).toBe(200);
    return JSON.parse(answer.body) as { mine?: Entry; replies: { type: string; entry?: Entry }[] };
  }

  const history = async () =>
    (
      JSON.parse(
        (await send(port, { path: '/api/history', headers: { host: `127.0.0.1:${port}` } })).body,
      ) as { entries: Entry[] }
    ).entries;

  it('the result replaces the "starting now" card, live and in the history', async () => {
    const answer = await type('/imagine a red apple --n 1 --steps 2 --seed 3');
    const status = answer.replies[0]!.entry!;
    expect(status.messageId).toBe(`s-${status.jobId}`);
    await waitFor(() => events.some((e) => e.replaces === status.messageId), 30_000, 'the result');
    const result = events.find((e) => e.replaces === status.messageId)!.entry!;
    expect(result.image).not.toBeNull();
    const ofJob = (await history()).filter((e) => e.fromBot && e.jobId === status.jobId);
    expect(ofJob.map((e) => e.messageId)).toEqual([result.messageId]);
  });

  it('an exact edit, however quick, leaves its result alone', async () => {
    const [apple] = (await history()).filter((e) => e.image !== null);
    const answer = await type('darker', apple!.messageId);
    const jobId = answer.replies[0]!.entry!.jobId!;
    await core.queue.onIdle();
    await waitFor(() => events.some((e) => e.entry?.messageId === `r-${jobId}`), 10_000, 'the edit');
    const ofJob = (await history()).filter((e) => e.fromBot && e.jobId === jobId);
    expect(ofJob).toHaveLength(1);
    expect(ofJob[0]!.image).not.toBeNull();
  });

  it('a failed job leaves its failure in place of the status', async () => {
    core.queue.setConcurrency(0);
    const answer = await type('/imagine a slow pear --n 1 --steps 2 --seed 4');
    const status = answer.replies[0]!.entry!;
    await type(`/cancel ${status.jobId}`);
    core.queue.setConcurrency(1);
    await waitFor(() => events.some((e) => e.replaces === status.messageId), 10_000, 'the cancellation');
    const ofJob = (await history()).filter((e) => e.fromBot && e.jobId === status.jobId);
    expect(ofJob.map((e) => e.text)).toEqual(['Cancelled.']);
  });

  it("the person's own line comes back first, ahead of flowbot's answer", async () => {
    const answer = await type('/imagine a blue boat --n 1 --steps 2 --seed 5');
    expect(answer.mine).toMatchObject({
      fromBot: false,
      text: '/imagine a blue boat --n 1 --steps 2 --seed 5',
    });
    const entries = await history();
    const mine = entries.findIndex((e) => e.messageId === answer.mine!.messageId);
    const theirs = entries.findIndex((e) => e.jobId === answer.replies[0]!.entry!.jobId && e.fromBot);
    expect(mine).toBeGreaterThanOrEqual(0);
    expect(mine).toBeLessThan(theirs);
    await core.queue.onIdle();
  });
});
