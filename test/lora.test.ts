/**
 * LoRAs end to end: through the Discord adapter (real discord.js against the loopback Discord) on the
 * tiny SD 1.5 folder with its committed `loras/`, and a host's shared `MODELS_DIR/loras/` beside it;
 * the prompt syntax, settings, the admin allow-list, what images record, and bad files.
 */
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscordAdapter } from '../adapters/discord/adapter.js';
import { encodeAction } from '../commands/actions.js';
import type { Reply } from '../commands/types.js';
import { SafetensorsFile } from '../src/lora/safetensors.js';
import { readPngText } from '../src/pipeline/png.js';
import { parsePrompt } from '../src/prompt/params.js';
import { TestBot } from './helpers/bot.js';
import { startDiscord } from './helpers/discord.js';
import { FakeDiscord, user } from './helpers/fake-discord.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const CONFORMANCE = path.join(import.meta.dirname, 'conformance', 'models');
const ALICE = user('960000000000000001', 'alice');

/** A safetensors file from tensors (F32) and a header that may be tampered with. */
function safetensors(tensors: Record<string, { shape: number[]; values: number[] }>, lie = 0): Buffer {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    const data = Buffer.from(Float32Array.from(values).buffer);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.length + lie] };
    chunks.push(data);
    offset += data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...chunks]);
}

describe('LoRA files: bad input is refused with a message', () => {
  const t = tempDir();
  afterAll(() => t.cleanup());
  const open = (name: string, bytes: Buffer, maxBytes = 1 << 20) => {
    const file = path.join(t.dir, name);
    writeFileSync(file, bytes);
    return () => SafetensorsFile.open(file, { maxBytes, label: name });
  };
  const good = safetensors({ 'lora_unet_x.lora_down.weight': { shape: [1, 2], values: [1, 2] } });

  it('reads a good file', () => {
    expect([...open('good', good)().tensors.keys()]).toEqual(['lora_unet_x.lora_down.weight']);
  });
  it('refuses a file over the size limit before reading it', () => {
    expect(open('big', good, 16)).toThrow(/over the limit of 0\.0 MB \(LORA_MAX_MB\)/);
  });
  it('refuses a file that is not safetensors', () => {
    expect(open('png', Buffer.from('\x89PNG\r\n\x1a\n-not-a-lora-at-all'))).toThrow(/not a safetensors file/);
    expect(open('text', Buffer.from('{"a": 1}'))).toThrow(/not a safetensors file/);
  });
  it('refuses a header that lies about lengths', () => {
    expect(open('lie', safetensors({ a: { shape: [2], values: [1, 2] } }, 4))).toThrow(
      /the header lies about the length of "a"/,
    );
    const huge = Buffer.from(good);
    huge.writeBigUInt64LE(1n << 40n);
    expect(open('huge-header', huge)).toThrow(/its header claims 1099511627776 bytes/);
  });
});

describe('LoRAs in prompts', () => {
  it('reads <lora:name:w> tags and --lora flags, weight 1 by default, negative weights too', () => {
    const parsed = parsePrompt('a cat <lora:tiny-style:0.8>, in the rain --lora detail:-0.5 --lora x');
    expect(parsed.ok && parsed.value).toMatchObject({
      prompt: 'a cat, in the rain',
      loras: [
        { name: 'tiny-style', weight: 0.8 },
        { name: 'detail', weight: -0.5 },
        { name: 'x', weight: 1 },
      ],
    });
  });
  it('refuses paths and out-of-range weights', () => {
    const traversal = parsePrompt('a <lora:../../etc/passwd:1> cat');
    expect(!traversal.ok && traversal.error.message).toMatch(/is not a LoRA name: .* not a path/);
    const weight = parsePrompt('a cat --lora a:9');
    expect(!weight.ok && weight.error.message).toBe(
      'Expected a weight from −4 to 4 after "a:" for --lora but received "9".',
    );
  });
});

describe('LoRAs through Discord', () => {
  const t = tempDir();
  const fake = new FakeDiscord();
  let bot: TestBot;
  let discord: DiscordAdapter;
  const models = path.join(t.dir, 'models');

  const imagine = (
    options: { name: string; type: number; value: string | number; focused?: boolean }[],
    type = 2,
  ) => fake.interact({ user: ALICE }, type, { id: '1', name: 'imagine', type: 1, options });

  beforeAll(async () => {
    // A host's layout: the model folder (with its own loras/) and shared LoRAs in MODELS_DIR/loras.
    mkdirSync(path.join(models, 'loras'), { recursive: true });
    symlinkSync(path.join(CONFORMANCE, 'sd15'), path.join(models, 'sd15'));
    symlinkSync(path.join(CONFORMANCE, 'sdxl'), path.join(models, 'sdxl'));
    cpSync(
      path.join(CONFORMANCE, 'sdxl', 'loras', 'tiny-style.safetensors'),
      path.join(models, 'loras', 'xl-style.safetensors'),
    );
    cpSync(
      path.join(CONFORMANCE, 'flux-schnell', 'loras', 'tiny-style.safetensors'),
      path.join(models, 'loras', 'flux-style.safetensors'),
    );
    // Two keys of this one match a weight of sd15's UNet; two do not.
    writeFileSync(
      path.join(models, 'loras', 'partial.safetensors'),
      safetensors({
        'lora_unet_time_embedding_linear_1.lora_down.weight': {
          shape: [1, 16],
          values: Array.from({ length: 16 }, (_, i) => i / 16),
        },
        'lora_unet_time_embedding_linear_1.lora_up.weight': {
          shape: [64, 1],
          values: new Array(64).fill(0.05),
        },
        'lora_unet_no_such_module.lora_down.weight': { shape: [1, 2], values: [1, 2] },
        'lora_unet_no_such_module.lora_up.weight': { shape: [2, 1], values: [1, 2] },
      }),
    );
    writeFileSync(path.join(models, 'loras', 'broken.safetensors'), 'not a safetensors file at all');
    await fake.start();
    bot = new TestBot(path.join(t.dir, 'data'), { MODELS_DIR: models, MODEL: 'sd15', UPSCALER: 'none' });
    discord = await startDiscord(fake, bot);
  });

  afterAll(async () => {
    await discord.stop();
    await bot.close();
    await fake.stop();
    t.cleanup();
  });

  it('autocompletes LoRA names for the chosen model, keeping a typed weight', async () => {
    const before = fake.of('POST', /callback/).length;
    imagine(
      [
        { name: 'prompt', type: 3, value: 'a cat' },
        { name: 'lora', type: 3, value: 'tiny:0.5', focused: true },
      ],
      4,
    );
    await waitFor(() => fake.of('POST', /callback/).length > before, 5000, 'the autocomplete answer');
    const answer = fake.of('POST', /callback/).at(-1)!.body as {
      type: number;
      data: { choices: { value: string }[] };
    };
    expect(answer.type).toBe(8);
    expect(answer.data.choices.map((c) => c.value)).toEqual([
      'tiny-detail:0.5',
      'tiny-style:0.5',
      'tiny-style-kohya:0.5',
    ]);
  });

  it('/imagine with a LoRA: the result line, the PNG parameters (A1111 tags and Lora hashes) and info say so', async () => {
    imagine([
      { name: 'prompt', type: 3, value: 'a lighthouse <lora:tiny-style:0.8>' },
      { name: 'lora', type: 3, value: 'tiny-detail:-0.5' },
      { name: 'seed', type: 4, value: 5 },
    ]);
    await waitFor(() => fake.posted().length === 1, 30_000, 'the grid');
    const post = fake.posted()[0]!;
    expect(post.body.content).toMatch(
      /Imagined: "a lighthouse" · 4 images .* · LoRA tiny-style 0\.8, tiny-detail −0\.5/,
    );
    const parameters = readPngText(post.files[0]!.data).parameters!;
    expect(parameters.split('\n')[0]).toBe('a lighthouse <lora:tiny-style:0.8> <lora:tiny-detail:-0.5>');
    expect(parameters).toMatch(/Lora hashes: "tiny-style: [0-9a-f]{12}, tiny-detail: [0-9a-f]{12}"/);
  });

  it('keeps the LoRAs when an image is varied, zoomed and upscaled creatively', async () => {
    const { view } = await bot.imagine('a boat --lora tiny-style:0.7 --n 1 --steps 2');
    expect(view!.text).toMatch(/· LoRA tiny-style 0\.7$/);
    const info = await bot.send({ kind: 'command', name: 'info', text: view!.imageId, ctx: bot.ctx() });
    expect(info[0]).toMatchObject({
      type: 'text',
      text: expect.stringMatching(/LoRAs: tiny-style 0\.7 \([0-9a-f]{12}\)/),
    });
    const { view: larger } = await bot.imagine('a ship --lora tiny-style:0.7 --n 1 --steps 2 --size 96x96');
    const jobs: string[] = [];
    for (const action of [
      { action: 'vary_subtle', imageId: view!.imageId },
      { action: 'zoom', imageId: view!.imageId, cell: 20 },
      { action: 'upscale_creative', imageId: view!.imageId, cell: 2 },
      // 192×192 is larger than the model paints: refined at its work size and brought back, LoRA and all.
      { action: 'upscale_creative', imageId: larger!.imageId, cell: 2 },
    ] as const) {
      const replies = await bot.send({ kind: 'action', customId: encodeAction(action), ctx: bot.ctx() });
      const queued = replies.find((r): r is Extract<Reply, { type: 'queued' }> => r.type === 'queued');
      expect(queued, `${action.action}: ${JSON.stringify(replies)}`).toBeDefined();
      expect(bot.core.store.getJob(queued!.jobId)!.params).toMatchObject({
        loras: [{ name: 'tiny-style', weight: 0.7 }],
      });
      expect(queued!.text).toContain('LoRA tiny-style 0.7');
      jobs.push(queued!.jobId);
      await bot.core.queue.onIdle(); // one at a time: a person's jobs in progress are capped
    }
    // The images made say so too: the LoRA was applied, not only asked for.
    for (const jobId of jobs)
      expect(
        bot.core.store.imagesOfJob(jobId).find((i) => i.operation !== 'grid')?.extra,
        jobId,
      ).toMatchObject({
        loras: [{ name: 'tiny-style', weight: 0.7 }],
      });
  });

  it('names a typo, a LoRA of another family and keys that matched nothing', async () => {
    const ask = async (text: string) =>
      (await bot.send({ kind: 'command', name: 'imagine', text, ctx: bot.ctx() }))[0] as Reply & {
        text: string;
      };
    expect((await ask('a cat --lora tiny-stlye')).text).toBe(
      'There is no LoRA named "tiny-stlye" for sd15. Did you mean tiny-style?',
    );
    const other = await bot
      .run({
        kind: 'command',
        name: 'imagine',
        text: 'a cat --lora flux-style --n 1 --steps 1',
        ctx: bot.ctx(),
      })
      .catch((e: Error) => e);
    expect(String(other)).toContain('The LoRA flux-style was made for FLUX.1; sd15 is SD 1.x/2.x.');
    const xl = await bot
      .run({
        kind: 'command',
        name: 'imagine',
        text: 'a cat --lora xl-style --n 1 --steps 1',
        ctx: bot.ctx(),
      })
      .catch((e: Error) => e);
    expect(String(xl)).toContain('The LoRA xl-style was made for SDXL; sd15 is SD 1.x/2.x.');
    const broken = await bot
      .run({ kind: 'command', name: 'imagine', text: 'a cat --lora broken --n 1 --steps 1', ctx: bot.ctx() })
      .catch((e: Error) => e);
    expect(String(broken)).toContain('The LoRA broken cannot be used: it is not a safetensors file');
    const { view } = await bot.imagine('a cat --lora partial --n 1 --steps 1');
    expect(view!.text).toContain('partial: 2 of 4 LoRA keys matched no weight of this model');
  });

  it('settings lora sets a personal default; settings admin loras restricts them', async () => {
    const admin = bot.ctx('root', { isAdmin: true });
    await bot.send({ kind: 'command', name: 'settings', text: 'lora tiny-detail:0.3', ctx: bot.ctx('bob') });
    const [queued] = await bot.send({
      kind: 'command',
      name: 'imagine',
      text: 'a hat --n 1 --steps 1',
      ctx: bot.ctx('bob'),
    });
    expect(bot.core.store.getJob((queued as { jobId: string }).jobId)!.params).toMatchObject({
      loras: [{ name: 'tiny-detail', weight: 0.3 }],
    });
    const [allowed] = await bot.send({
      kind: 'command',
      name: 'settings',
      text: 'admin loras allow tiny-style',
      ctx: admin,
    });
    expect(allowed).toMatchObject({ text: 'Allowed LoRAs: tiny-style.' });
    const [refused] = await bot.send({
      kind: 'command',
      name: 'imagine',
      text: 'a hat --lora tiny-detail',
      ctx: bot.ctx(),
    });
    expect(refused).toMatchObject({ text: 'The LoRA tiny-detail is not allowed here. Allowed: tiny-style.' });
    await bot.send({ kind: 'command', name: 'settings', text: 'admin loras all', ctx: admin });
    await bot.core.queue.onIdle();
  });

  it('settings channel lora sets a channel default that a personal default and the prompt override', async () => {
    const admin = bot.ctx('root', { isAdmin: true, channelId: 'lora-room' });
    const inRoom = (user: string) => bot.ctx(user, { channelId: 'lora-room' });
    await bot.send({ kind: 'command', name: 'settings', text: 'channel lora tiny-style:0.6', ctx: admin });
    const lorasOf = async (user: string, text: string) => {
      const [queued] = await bot.send({ kind: 'command', name: 'imagine', text, ctx: inRoom(user) });
      return bot.core.store.getJob((queued as { jobId: string }).jobId)!.params;
    };
    expect(await lorasOf('carol', 'a hat --n 1 --steps 1')).toMatchObject({
      loras: [{ name: 'tiny-style', weight: 0.6 }],
    });
    await bot.send({ kind: 'command', name: 'settings', text: 'lora tiny-detail:0.2', ctx: inRoom('dave') });
    expect(await lorasOf('dave', 'a cap --n 1 --steps 1')).toMatchObject({
      loras: [{ name: 'tiny-detail', weight: 0.2 }],
    });
    expect(await lorasOf('carol', 'a scarf --n 1 --steps 1 --lora tiny-detail:0.9')).toMatchObject({
      loras: [{ name: 'tiny-detail', weight: 0.9 }],
    });
    await bot.send({ kind: 'command', name: 'settings', text: 'channel lora reset', ctx: admin });
    await bot.core.queue.onIdle();
  });
});
