/**
 * Words typed in the playground's box with no message chosen, through the real playground server on
 * loopback and the shipped sentence encoder: the command layer reads them as flowbot reads replies
 * (rules first, then meaning), so an edit applies to the latest image however it is phrased, and a
 * prompt, with or without flags, starts a new image.
 */
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebAdapter } from '../adapters/web/server.js';
import { type Bot, createBot } from '../commands/index.js';
import { type Core, createCore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { LinkSigner } from '../src/links.js';
import type { ImageRecord } from '../src/store/store.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { send } from './helpers/http.js';
import { tempDir } from './helpers/tmp.js';

const ENCODER = path.resolve(import.meta.dirname, '..', 'models', 'minilm-l6');
const t = tempDir();
let core: Core;
let bot: Bot;
let web: WebAdapter;
let port: number;

/** A reply as the page gets it. */
interface Answered {
  readonly type: string;
  readonly text?: string;
  readonly entry?: { readonly text: string; readonly image: { readonly imageId: string } | null };
}

beforeAll(async () => {
  const config = loadConfig({
    env: {
      DATA_DIR: t.dir,
      MODELS_DIR: FIXTURE_MODELS,
      MODEL: 'flow-tiny',
      UPSCALER: 'sr-x4-tiny',
      ENCODER,
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
}, 60_000);

afterAll(async () => {
  await web.close();
  await core.close();
  t.cleanup();
});

/** Types `text` into the box, choosing no message, and waits for any job it queued. */
async function type(text: string): Promise<Answered> {
  const answer = await send(port, {
    method: 'POST',
    path: '/api/message',
    headers: {
      'content-type': 'application/json',
      host: `127.0.0.1:${port}`,
      origin: `http://127.0.0.1:${port}`,
    },
    body: JSON.stringify({ text }),
  });
  expect(answer.status).toBe(200);
  await core.queue.onIdle();
  return (JSON.parse(answer.body) as { replies: Answered[] }).replies[0]!;
}

/** The image the playground shows last. */
function latest(): ImageRecord {
  const message = core.store.latestImageInThread('web', 'playground', 'playground');
  return core.store.getImage(message!.imageId!)!;
}

let apple: ImageRecord;
beforeEach(async () => {
  await type('a red apple --n 1 --steps 2 --seed 3');
  apple = latest();
  expect(apple).toMatchObject({ operation: 'generate', prompt: 'a red apple', parentId: null });
}, 60_000);

describe('typed with no message chosen, an edit applies to the latest image', () => {
  it.each(['can I see a few other versions of this?', 'give me a couple more like this one'])(
    '%j makes variations of it',
    async (text) => {
      await type(text);
      const grid = latest();
      expect(grid.operation).toBe('grid');
      const cells = bot.imageView(grid.id, '')!.cellIds;
      expect(cells.length).toBeGreaterThan(1);
      for (const cell of cells)
        expect(core.store.getImage(cell)).toMatchObject({ operation: 'variation', parentId: apple.id });
    },
  );

  it('"could you do that again but bigger" upscales it', async () => {
    await type('could you do that again but bigger');
    expect(latest()).toMatchObject({ operation: 'upscale', parentId: apple.id });
    expect(latest().width).toBeGreaterThan(apple.width);
  });

  it.each(['go back one', 'show me the one before'])('%j goes back to the image before', async (text) => {
    await type('darker');
    expect(latest()).toMatchObject({ operation: 'edit', parentId: apple.id });
    const back = await type(text);
    expect(back.entry?.image?.imageId).toBe(apple.id);
    expect(back.entry?.text).toMatch(new RegExp(`^Back to #${apple.id}`));
    expect(latest().id).toBe(apple.id);
  });

  it('"make it night" still refines it', async () => {
    await type('make it night');
    expect(latest()).toMatchObject({ prompt: 'a red apple, night', parentId: apple.id });
  });

  it('"darker" still edits it exactly', async () => {
    await type('darker');
    expect(latest()).toMatchObject({ operation: 'edit', parentId: apple.id });
  });
});

describe('typed with no message chosen, a prompt starts a new image', () => {
  it('"a cat on a boat" is a new prompt', async () => {
    await type('a cat on a boat --steps 2');
    expect(latest()).toMatchObject({ operation: 'grid', prompt: 'a cat on a boat', parentId: null });
  });

  it('a prompt with flags, whose words recall an edit, is still a new prompt', async () => {
    // "--seed" once read as a question about the seed; "portrait" as a change of aspect.
    await type('a green pear --n 1 --steps 2 --seed 4');
    expect(latest()).toMatchObject({
      operation: 'generate',
      prompt: 'a green pear',
      seed: 4,
      parentId: null,
    });
    await type('a portrait of a woman --n 1 --steps 2');
    expect(latest()).toMatchObject({
      operation: 'generate',
      prompt: 'a portrait of a woman',
      parentId: null,
    });
  });

  it('a slash command is a command', async () => {
    const help = await type('/help');
    expect(help.type).toBe('text');
    expect(latest().id).toBe(apple.id);
  });
});
