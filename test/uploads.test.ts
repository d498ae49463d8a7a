/**
 * Pictures people bring, at the command layer (the adapters' tests drive the same paths through
 * Discord, Slack and the playground): an attachment on `imagine` guides img2img with `--iw` as
 * strength at the upload's aspect ratio; an upload with an instruction gets the instruction; the upload
 * is an image of the conversation (info, lineage, undo); pasted links are not fetched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attachment } from '../commands/types.js';
import { strengthForImageWeight } from '../commands/upload.js';
import { TestBot } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';
import { animatedGif, photoJpeg, photoPng, svgDrawing } from './helpers/upload-images.js';

const t = tempDir();
let bot: TestBot;

beforeAll(() => {
  bot = new TestBot(t.dir);
});

afterAll(async () => {
  await bot.close();
  t.cleanup();
});

/** An attachment as adapters build it, counting downloads. */
function attached(bytes: Buffer, name = 'photo.png'): Attachment & { fetched: number } {
  const file = {
    name,
    size: bytes.length,
    fetched: 0,
    fetch: async (maxBytes: number) => {
      file.fetched++;
      return bytes.subarray(0, maxBytes + 1);
    },
  };
  return file;
}

function textOf(reply: { type: string; text?: string }): string {
  return 'text' in reply && reply.text !== undefined ? reply.text : reply.type;
}

describe('--iw', () => {
  it('maps 0–2 onto img2img strength 0.95–0.15, with Midjourney’s default 1 at 0.55', () => {
    expect([0, 0.5, 1, 2].map(strengthForImageWeight)).toEqual([0.95, 0.75, 0.55, 0.15]);
  });

  it('out of range gets the usual friendly message and fetches nothing', async () => {
    const file = attached(await photoPng());
    const [reply] = await bot.send({
      kind: 'command',
      name: 'imagine',
      text: 'a castle --iw 3',
      ctx: bot.ctx(),
      attachment: file,
    });
    expect(textOf(reply!)).toBe('Expected a number 0–2 for --iw but received "3".');
    expect(file.fetched).toBe(0);
  });
});

describe('imagine with an image attached', () => {
  it('makes img2img variations of the upload at its aspect ratio, the upload as their parent', async () => {
    const { view } = await bot.run({
      kind: 'command',
      name: 'imagine',
      text: 'a castle at dusk --iw 1.5 --n 1 --seed 5',
      ctx: bot.ctx('alice', { userName: 'Alice' }),
      attachment: attached(await photoJpeg(300, 200), 'castle.jpg'),
    });
    expect(view!.text).toMatch(
      /^Imagined from your image: "a castle at dusk" · 1 image · \d+×\d+ · img2img 0.35 \(--iw 1.5\) · seed 5 · uploaded by Alice as #\w+/,
    );
    const parent = bot.core.store.getImage(view!.parentId!)!;
    expect(parent.operation).toBe('upload');
    expect(Math.abs(parent.width / parent.height - 1.5)).toBeLessThan(0.1);
    expect([view!.width, view!.height]).toEqual([parent.width, parent.height]);
    const info = await bot.send({ kind: 'command', name: 'info', text: view!.imageId, ctx: bot.ctx() });
    expect(textOf(info[0]!)).toContain(`Lineage: #${view!.imageId} (variation) ← #${parent.id} (upload)`);
    const about = await bot.send({ kind: 'command', name: 'info', text: parent.id, ctx: bot.ctx() });
    expect(textOf(about[0]!)).toContain('Uploaded by Alice · "castle.jpg" · JPEG');
  });

  it('refuses the flags of a grid made from noise, before fetching anything', async () => {
    const file = attached(await photoPng());
    const [reply] = await bot.send({
      kind: 'command',
      name: 'imagine',
      text: 'a castle --tile --repeat 2',
      ctx: bot.ctx(),
      attachment: file,
    });
    expect(textOf(reply!)).toBe(
      'With an image attached, --tile and --repeat cannot be used: they shape a grid made from noise.',
    );
    expect(file.fetched).toBe(0);
  });

  it('keeps --ar over the upload’s own ratio', async () => {
    const { view } = await bot.run({
      kind: 'command',
      name: 'imagine',
      text: 'a castle --ar 1:1 --n 1',
      ctx: bot.ctx(),
      attachment: attached(await photoJpeg(300, 200)),
    });
    expect(view!.width).toBe(view!.height);
  });
});

describe('an upload with an instruction', () => {
  it('"upscale" makes it 4× larger, and undo goes back to the upload', async () => {
    const { view, messageId } = await bot.run({
      kind: 'upload',
      text: 'upscale',
      ctx: bot.ctx('alice', { messageId: 'person-1' }),
      attachment: attached(await photoPng(40, 24)),
    });
    expect([view!.width, view!.height]).toEqual([160, 96]);
    expect(bot.core.store.getImage(view!.parentId!)!.operation).toBe('upload');
    const { reply } = await bot.replyTo(messageId!, 'undo');
    expect(reply.type === 'image' && reply.view.imageId).toBe(view!.parentId);
  });

  it('with no words is shown back with buttons that work, and a reply to the person’s message acts on it', async () => {
    const [first] = await bot.send({
      kind: 'upload',
      text: '',
      ctx: bot.ctx('alice', { messageId: 'person-2' }),
      attachment: attached(await photoPng(40, 24)),
    });
    if (first?.type !== 'image') throw new Error(`expected the image back, got ${first?.type}`);
    expect(first.view.text).toMatch(
      /^Got it: your image is uploaded by alice as #\w+ \(40×24\)\. Use the buttons/,
    );
    const upload = first.view.imageId;
    for (const label of ['Upscale x4', 'Vary (Subtle)', 'Zoom Out 2x']) {
      const button = first.view.buttons.find((b) => b.label === label);
      expect(button, label).toBeDefined();
      const { view } = await bot.press(button!.customId);
      expect(view!.parentId, label).toBe(upload);
    }
    const { view } = await bot.replyTo('person-2', 'upscale');
    expect([view!.width, view!.height]).toEqual([160, 96]);
  });

  it('that is an SVG is refused, and nothing is stored', async () => {
    const [reply] = await bot.send({
      kind: 'upload',
      text: 'upscale',
      ctx: bot.ctx('alice', { messageId: 'person-3' }),
      attachment: attached(svgDrawing(), 'logo.png'),
    });
    expect(textOf(reply!)).toMatch(/is an SVG/);
    expect(bot.core.store.findChatMessage('web', 'general', 'person-3')).toBeUndefined();
  });
});

describe('a pasted link', () => {
  it('is not fetched: flowbot says it reads attachments only', async () => {
    const [reply] = await bot.send({
      kind: 'command',
      name: 'imagine',
      text: 'https://example.com/cat.png a cat in the style of this',
      ctx: bot.ctx(),
    });
    expect(textOf(reply!)).toMatch(/^I do not open links, so I did not fetch that one\./);
  });
});

describe('an upload with words that describe a picture', () => {
  it('imagines from it, as imagine with the image attached does', async () => {
    const { view } = await bot.run({
      kind: 'upload',
      text: 'a castle at dusk, oil painting --n 1',
      ctx: bot.ctx('alice', { messageId: 'person-4' }),
      attachment: attached(await photoPng(60, 40)),
    });
    expect(view!.text).toMatch(/^Imagined from your image: "a castle at dusk, oil painting" · 1 image/);
  });
});

describe('hostile or awkward uploads', () => {
  it('a decompression bomb by size (a header declaring 100000×100000) is refused before decoding', async () => {
    const png = await photoPng(8, 8);
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    const [reply] = await bot.send({
      kind: 'upload',
      text: 'upscale',
      ctx: bot.ctx('alice', { messageId: 'person-5' }),
      attachment: attached(png),
    });
    expect(textOf(reply!)).toMatch(
      /^That image is 100000×100000 pixels; I read images of up to 16\.8 megapixels/,
    );
  });

  it('a JPEG named .png is read as the JPEG it is', async () => {
    await bot.send({
      kind: 'upload',
      text: '',
      ctx: bot.ctx('alice', { messageId: 'person-6' }),
      attachment: attached(await photoJpeg(), 'really-a-jpeg.png'),
    });
    const record = bot.core.store.findChatMessage('web', 'general', 'person-6')!;
    expect(bot.core.store.getImage(record.imageId!)!.extra).toMatchObject({ format: 'jpeg' });
  });

  it('an animated GIF is taken as its first frame, and flowbot says so', async () => {
    const [reply] = await bot.send({
      kind: 'upload',
      text: '',
      ctx: bot.ctx('alice', { messageId: 'person-7' }),
      attachment: attached(await animatedGif(), 'dance.gif'),
    });
    expect(reply?.type === 'image' && reply.view.text).toMatch(
      /\(an animation: I used its first frame\) \(48×32\)/,
    );
  });

  it('a file stated larger than the upload limit is refused without being fetched', async () => {
    const file = attached(await photoPng());
    file.size = 50 * 1024 * 1024;
    const [reply] = await bot.send({ kind: 'upload', text: 'upscale', ctx: bot.ctx(), attachment: file });
    expect(textOf(reply!)).toBe('That file is 50.0 MB; images can be at most 10 MB.');
    expect(file.fetched).toBe(0);
  });
});
