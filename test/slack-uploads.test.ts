/**
 * Pictures people bring on Slack, through the real Bolt adapter (signed HTTP) against the loopback
 * Slack: a file shared with a mention and a prompt guides the image as /imagine with an image does, a
 * file shared with "upscale" is posted 4× larger, a file shared in flowbot's thread gets its words,
 * and files are fetched only from their url_private with the bot token.
 */
import { createHmac } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackAdapter } from '../adapters/slack/adapter.js';
import { TestBot } from './helpers/bot.js';
import { FakeSlack } from './helpers/fake-slack.js';
import { textBombPng } from './helpers/hostile-images.js';
import { watchPeakRss } from './helpers/memory.js';
import { tempDir, waitFor } from './helpers/tmp.js';
import { photoJpeg, photoPng, svgDrawing } from './helpers/upload-images.js';

const SECRET = 'slack-signing-secret-for-tests';

describe('Slack uploads', () => {
  const t = tempDir();
  const fake = new FakeSlack();
  let bot: TestBot;
  let slack: SlackAdapter;
  let url: string;
  let n = 0;

  /** Sends an Events API event, signed as Slack signs it. */
  async function event(inner: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify({
      type: 'event_callback',
      team_id: 'T1',
      api_app_id: 'A1',
      event_id: `Ev${Math.random()}`,
      event_time: 1,
      event: inner,
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-slack-signature': signature,
        'x-slack-request-timestamp': String(timestamp),
      },
      body,
    });
    expect(res.status).toBe(200);
  }

  /** A file shared with a mention of flowbot; resolves with the message's ts. */
  async function mentionWith(text: string, file: Record<string, unknown>): Promise<string> {
    const ts = `1900000000.${++n}`;
    await event({
      type: 'app_mention',
      channel: 'C1',
      user: 'U1',
      text: `<@UBOT> ${text}`,
      ts,
      files: [file],
      event_ts: ts,
    });
    return ts;
  }

  const uploads = () => fake.of('files.completeUploadExternal');
  /** The index-th image flowbot posted, once recorded. */
  async function posted(index: number) {
    await waitFor(() => uploads().length > index, 30_000, `upload ${index + 1}`);
    const fileId = (uploads()[index]!.args.files as { id: string }[])[0]!.id;
    const ts = fake.shareTsOf(fileId)!;
    await waitFor(
      () => bot.core.store.findChatMessage('slack', 'C1', ts) !== undefined,
      10_000,
      'the record',
    );
    const record = bot.core.store.findChatMessage('slack', 'C1', ts)!;
    return { ts, bytes: fake.uploads.get(fileId)!, image: bot.core.store.getImage(record.imageId!)! };
  }
  /** Texts flowbot posted privately or in the channel, so far. */
  const answers = () =>
    [...fake.of('chat.postEphemeral'), ...fake.of('chat.postMessage')].map((c) => String(c.args.text ?? ''));

  async function answerTo(text: string, file: Record<string, unknown>): Promise<string> {
    const before = answers();
    await mentionWith(text, file);
    await waitFor(() => answers().length > before.length, 20_000, 'the answer');
    return answers().find((a) => !before.includes(a)) ?? '';
  }

  beforeAll(async () => {
    const base = await fake.start();
    bot = new TestBot(t.dir);
    slack = new SlackAdapter({
      bot: bot.bot,
      botToken: fake.botToken,
      signingSecret: SECRET,
      host: '127.0.0.1',
      port: 0,
      apiUrl: `${base}/api`,
      progressIntervalMs: 0,
      // The fake serves files on loopback; the real adapter fetches files.slack.com only.
      fileTestOrigins: [new URL(base).host],
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

  it('a file shared with a mention and a prompt guides the image (img2img), fetched with the bot token', async () => {
    await mentionWith(
      'a castle at dusk --n 1',
      fake.shareFile('photo.jpg', await photoJpeg(120, 80), 'image/jpeg'),
    );
    const { image } = await posted(0);
    expect(image.operation).toBe('variation');
    const upload = bot.core.store.getImage(image.parentId!)!;
    expect(upload).toMatchObject({ operation: 'upload', userId: 'U1' });
    expect(Math.abs(upload.width / upload.height - 1.5)).toBeLessThan(0.15);
    expect(fake.fileDownloads().map((c) => c.args.authorization)).toEqual(['Bearer xoxb-test']);
    const job = bot.core.store.getJob(image.jobId!)!;
    expect(String((job.params as { explanation: string }).explanation)).toMatch(
      /^Imagined from your image: "a castle at dusk" · 1 image · .* img2img 0\.55 \(--iw 1\)/,
    );
  });

  it('a file shared with "upscale" is posted 4× larger, in the thread of the message that shared it', async () => {
    const before = uploads().length;
    const ts = await mentionWith('upscale', fake.shareFile('me.png', await photoPng(40, 24)));
    const { bytes, image } = await posted(before);
    expect(image).toMatchObject({ operation: 'upscale', width: 160, height: 96 });
    expect(await sharp(bytes).metadata()).toMatchObject({ width: 160, height: 96 });
    expect(uploads()[before]!.args).toMatchObject({ channel_id: 'C1', thread_ts: ts });
    // The shared file is an image of the conversation: its message is recorded as showing it.
    const record = bot.core.store.findChatMessage('slack', 'C1', ts)!;
    expect(bot.core.store.getImage(record.imageId!)!.operation).toBe('upload');
  });

  it('a file shared in flowbot’s thread without a mention gets its words', async () => {
    const first = await posted(0);
    const before = uploads().length;
    const ts = `1900000000.${++n}`;
    await event({
      type: 'message',
      subtype: 'file_share',
      channel: 'C1',
      user: 'U1',
      text: 'upscale',
      ts,
      thread_ts: first.ts,
      files: [fake.shareFile('other.png', await photoPng(20, 20))],
      event_ts: ts,
    });
    const { image } = await posted(before);
    expect(image).toMatchObject({ operation: 'upscale', width: 80, height: 80 });
  });

  it('the PNG with 20 large compressed text chunks is refused within 1 s and under 100 MB', async () => {
    const file = fake.shareFile('bomb.png', await textBombPng());
    const peak = watchPeakRss();
    const started = Date.now();
    const answer = await answerTo('upscale', file);
    expect((Date.now() - started) / 1000).toBeLessThan(1);
    expect(peak()).toBeLessThan(100);
    expect(answer).toMatch(/carries more hidden metadata \(text or colour-profile data\) than I accept/);
  });

  it('an SVG is refused', async () => {
    expect(await answerTo('upscale', fake.shareFile('logo.svg', svgDrawing(), 'image/svg+xml'))).toMatch(
      /^That image is an SVG/,
    );
  });

  it('a file whose url_private is not on Slack’s file host is never fetched', async () => {
    const downloads = fake.fileDownloads().length;
    const answer = await answerTo('upscale', {
      name: 'x.png',
      size: 100,
      url_private: 'https://example.com/files-pri/T1-F9/x.png',
    });
    expect(answer).toBe('I could not download that file; please try again.');
    expect(fake.fileDownloads()).toHaveLength(downloads);
  });
});
