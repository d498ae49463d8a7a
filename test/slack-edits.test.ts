/**
 * Issue 23 through the real Slack adapter (Bolt over signed HTTP, loopback Slack): replies "darker",
 * "mirror" and "black and white" in a result's thread post the edited image there, and an undo to an
 * image of no job carries no playground path as a link (Slack takes absolute links only).
 */
import { createHmac } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackAdapter } from '../adapters/slack/adapter.js';
import { createBot } from '../commands/index.js';
import { saveImage } from '../src/jobs.js';
import { readImage } from '../src/pipeline/image.js';
import { TestBot } from './helpers/bot.js';
import { FakeSlack } from './helpers/fake-slack.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const SECRET = 'slack-signing-secret-for-tests';

describe('Slack exact edits', () => {
  const t = tempDir();
  const fake = new FakeSlack();
  let bot: TestBot;
  let slack: SlackAdapter;
  let url: string;
  let n = 0;

  function post(body: string, type: string) {
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    return fetch(url, {
      method: 'POST',
      headers: {
        'content-type': type,
        'x-slack-signature': signature,
        'x-slack-request-timestamp': String(timestamp),
      },
      body,
    });
  }
  const uploads = () => fake.of('files.completeUploadExternal');
  /** The index-th uploaded file, once the adapter recorded where Slack shared it. */
  async function upload(index: number) {
    await waitFor(() => uploads().length > index, 30_000, `upload ${index + 1}`);
    const fileId = (uploads()[index]!.args.files as { id: string }[])[0]!.id;
    const ts = fake.shareTsOf(fileId)!;
    await waitFor(
      () => bot.core.store.findChatMessage('slack', 'C1', ts) !== undefined,
      10_000,
      'the record',
    );
    return { ts, bytes: fake.uploads.get(fileId)!, call: uploads()[index]! };
  }
  async function replyInThread(text: string, threadTs: string) {
    await post(
      JSON.stringify({
        type: 'event_callback',
        team_id: 'T1',
        api_app_id: 'A1',
        event_id: `Ev${Math.random()}`,
        event_time: 1,
        event: {
          type: 'message',
          channel: 'C1',
          user: 'U1',
          text,
          ts: `1900000000.${++n}`,
          thread_ts: threadTs,
          event_ts: `8.${n}`,
        },
      }),
      'application/json',
    );
  }

  beforeAll(async () => {
    const base = await fake.start();
    bot = new TestBot(t.dir);
    slack = new SlackAdapter({
      // The editor link as adapters/main.ts makes it without PUBLIC_URL: a path for the playground only.
      bot: createBot(bot.core, (imageId, _user, platform) =>
        platform === 'web' ? `/editor?image=${imageId}` : undefined,
      ),
      botToken: 'xoxb-test',
      signingSecret: SECRET,
      host: '127.0.0.1',
      port: 0,
      apiUrl: `${base}/api`,
      progressIntervalMs: 0,
    });
    url = `http://127.0.0.1:${await slack.start()}/slack/events`;
  });

  afterAll(async () => {
    await slack.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('replies "darker", "mirror" and "black and white" post the edited image in the thread', async () => {
    const form = new URLSearchParams({
      command: '/imagine',
      text: 'a red apple --n 1 --seed 5',
      user_id: 'U1',
      channel_id: 'C1',
      team_id: 'T1',
      trigger_id: 'tr',
      response_url: `${fake.base}/respond`,
    }).toString();
    await post(form, 'application/x-www-form-urlencoded');
    const original = await upload(0);
    const mean = async (png: Buffer) =>
      (await sharp(png).stats()).channels.slice(0, 3).reduce((sum, c) => sum + c.mean, 0);

    await replyInThread('darker', original.ts);
    const darker = await upload(1);
    expect(darker.call.args).toMatchObject({ thread_ts: original.ts });
    expect(await mean(darker.bytes)).toBeLessThan(await mean(original.bytes));

    await replyInThread('mirror', original.ts);
    const mirrored = await upload(2);
    // In a thread a plain message edits the thread's latest image: the darker one.
    const flopped = await sharp(darker.bytes).flop().raw().toBuffer();
    expect(Buffer.from(await sharp(mirrored.bytes).raw().toBuffer()).equals(flopped)).toBe(true);

    await replyInThread('black and white', original.ts);
    const pixels = await sharp((await upload(3)).bytes)
      .removeAlpha()
      .raw()
      .toBuffer();
    for (let i = 0; i < pixels.length; i += 3) {
      expect(pixels[i]).toBe(pixels[i + 1]);
      expect(pixels[i + 1]).toBe(pixels[i + 2]);
    }
  });

  it('an undo to an image of no job carries no link Slack would refuse', async () => {
    const first = bot.core.store.getImage(
      bot.core.store.findChatMessage('slack', 'C1', (await upload(0)).ts)!.imageId!,
    )!;
    const old = await saveImage(bot.core, await readImage(bot.core.files.resolve(first.filePath)), {
      operation: 'edit',
      prompt: first.prompt,
      negativePrompt: '',
      seed: first.seed,
      steps: first.steps,
      guidance: first.guidance,
      scheduler: first.scheduler,
      model: first.model,
      parentId: null,
      userId: 'U1',
      cell: null,
    });
    const threadTs = '1700000123.000100';
    bot.core.store.recordChatMessage({
      platform: 'slack',
      channelId: 'C1',
      messageId: threadTs,
      imageId: old.id,
    });
    await replyInThread('mirror', threadTs);
    await upload(4);
    await replyInThread('undo', threadTs);
    await upload(5);
    const withButtons = fake.of('chat.postMessage').filter((c) => Array.isArray(c.args.blocks));
    const links = JSON.stringify(withButtons.at(-1)!.args.blocks).match(/"url":"[^"]*"/g) ?? [];
    for (const link of links) expect(link).toMatch(/"url":"https?:\/\//);
    expect(links).toEqual([]);
  });
});
