import fc from 'fast-check';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAction } from '../commands/actions.js';
import type { JobRequest } from '../commands/context.js';
import { checkJob, DEFAULT_LIMITS, type Limits, limitsFor } from '../commands/limits.js';
import { quotaStatus } from '../commands/quota.js';
import type { Reply } from '../commands/types.js';
import { ErrorCode, UserError } from '../src/errors.js';
import { err } from '../src/result.js';
import { TestBot } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir();
let bot: TestBot;
let gridMessage: string;
let gridId: string;
let singleId: string;
beforeAll(async () => {
  bot = new TestBot(t.dir);
  const grid = await bot.imagine('a red apple --seed 3', 'setup');
  gridMessage = grid.messageId!;
  gridId = grid.view!.imageId;
  singleId = grid.view!.cellIds[0]!;
});
afterAll(async () => {
  await bot.close();
  t.cleanup();
});

const admin = () => bot.ctx('root', { isAdmin: true });
const say = (text: string, userId: string, isAdmin = false) =>
  bot.send({ kind: 'command', name: 'settings', text, ctx: bot.ctx(userId, { isAdmin }) });
const textOf = (replies: Reply[]) =>
  replies.map((r) => (r.type === 'text' || r.type === 'queued' ? r.text : r.type)).join(' | ');

/** Records what would be queued instead of running it, so the gate itself is what is tested. */
function spyOnQueue(): {
  requests: { kind: string; params: Record<string, unknown>; limits: Limits }[];
  restore: () => void;
} {
  const queue = bot.core.queue;
  const original = queue.enqueueAll.bind(queue);
  const requests: { kind: string; params: Record<string, unknown>; limits: Limits }[] = [];
  queue.enqueueAll = ((inputs: { kind: string; params: unknown; userId: string }[]) => {
    for (const input of inputs) {
      const limits = limitsFor(bot.bot.deps, bot.ctx(input.userId));
      requests.push({ kind: input.kind, params: input.params as Record<string, unknown>, limits });
    }
    return err(new UserError(ErrorCode.QueueClosed, '(recorded by the test)'));
  }) as typeof queue.enqueueAll;
  return { requests, restore: () => (queue.enqueueAll = original) };
}

describe('limits that hold', () => {
  it('defaults: at most 50 steps and 30 jobs an hour per person, admins exempt', () => {
    const limits = limitsFor(bot.bot.deps, bot.ctx('someone'));
    expect(limits).toMatchObject({
      maxSteps: 50,
      jobsPerHour: 30,
      maxOutputSide: DEFAULT_LIMITS.maxOutputSide,
    });
    expect(limitsFor(bot.bot.deps, admin()).jobsPerHour).toBeUndefined();
  });

  it('admin max-steps 30 and max-n 1 hold against personal defaults, flags and replies', async () => {
    // Defaults chosen before the admin lowers the limits.
    expect(textOf(await say('steps 45', 'carol'))).toBe('Your default steps is now 45.');
    expect(textOf(await say('n 4', 'carol'))).toBe('Your default n is now 4.');
    await say('admin max-steps 30', 'root', true);
    await say('admin max-n 1', 'root', true);
    expect(textOf(await say('steps 150', 'carol'))).toBe(
      'Expected an integer 1–30 for steps here but received 150.',
    );
    expect(textOf(await say('n 4', 'carol'))).toBe('Expected an integer 1–1 for n here but received 4.');
    const spy = spyOnQueue();
    try {
      await bot.send({ kind: 'command', name: 'imagine', text: 'a plain prompt', ctx: bot.ctx('carol') });
      expect(spy.requests[0]!.params).toMatchObject({ steps: 30, n: 1 });
      const flagged = await bot.send({
        kind: 'command',
        name: 'imagine',
        text: 'a cat --steps 150',
        ctx: bot.ctx('carol'),
      });
      expect(textOf(flagged)).toMatch(/1–30 for --steps but received "150"/);
      const replied = await bot.send({
        kind: 'reply',
        text: '#1 150 steps',
        target: { channelId: 'general', messageId: gridMessage },
        ctx: bot.ctx('carol'),
      });
      expect(textOf(replied)).toBe('Expected an integer 1–30 for steps here but received 150.');
      const variations = await bot.send({
        kind: 'action',
        customId: encodeAction({ action: 'vary', imageId: gridId, cell: 2 }),
        ctx: bot.ctx('carol'),
      });
      // A V button asks for four; under max-n 1 it makes one.
      expect(spy.requests[1]).toMatchObject({ kind: 'variation', params: { n: 1 } });
      expect(textOf(variations)).toBe('(recorded by the test)');
      expect(spy.requests).toHaveLength(2);
    } finally {
      spy.restore();
      await say('admin max-steps reset', 'root', true);
      await say('admin max-n reset', 'root', true);
    }
  });

  it('refuses sizes beyond the model, naming the largest that fits, and upscales beyond MAX_OUTPUT_SIDE', async () => {
    const spy = spyOnQueue();
    try {
      const big = await bot.send({
        kind: 'command',
        name: 'imagine',
        text: 'a cat --size 1024x1024',
        ctx: bot.ctx('dave'),
      });
      expect(textOf(big)).toBe(
        'flow-tiny works well up to 128×128 at this shape; 1024×1024 is too large. Ask for --size 128x128 or smaller, and upscale the result.',
      );
      const wide = await bot.send({
        kind: 'command',
        name: 'imagine',
        text: 'a cat --size 512x256',
        ctx: bot.ctx('dave'),
      });
      expect(textOf(wide)).toMatch(/up to 176×88 at this shape/);
      const deps = { ...bot.bot.deps, host: { memoryBudgetMB: 1_000_000, maxOutputSide: 256 } };
      const up: JobRequest = {
        kind: 'upscale',
        params: { parentId: singleId, scale: 4, creative: false, seed: 1, explanation: '' },
      };
      expect(checkJob(deps, up, limitsFor(deps))).toBeUndefined();
      expect(checkJob(deps, up, { ...limitsFor(deps), maxOutputSide: 200 })?.message).toBe(
        'Upscales here go up to 200 px a side; ×4 of 64×64 would be 256×256.',
      );
      const creative = { ...up, params: { ...up.params, creative: true } } as JobRequest;
      // Larger than the model paints, a creative upscale refines at its size and is brought back (issue 24).
      expect(checkJob(deps, creative, limitsFor(deps))).toBeUndefined();
      const tight = { ...bot.bot.deps, host: { memoryBudgetMB: 1, maxOutputSide: 4096 } };
      expect(checkJob(tight, creative, limitsFor(tight))?.message).toMatch(
        /^Editing this 256×256 image with flow-tiny needs about \d+ MB, more than this server's 1 MB budget\.$/,
      );
      const generate: JobRequest = {
        kind: 'generate',
        params: {
          prompt: 'x',
          negativePrompt: '',
          seed: 1,
          steps: 4,
          guidance: 3,
          width: 64,
          height: 64,
          n: 4,
          model: 'flow-tiny',
          explanation: '',
        },
      };
      expect(checkJob(tight, generate, limitsFor(tight))?.message).toMatch(
        /^64×64 with flow-tiny needs about \d+ MB, more than this server's 1 MB budget\. Try a smaller size\.$/,
      );
      expect(spy.requests).toHaveLength(0);
    } finally {
      spy.restore();
    }
  });

  it('property: no sequence of settings, prompts, replies and buttons queues a job beyond the limits', async () => {
    const command = fc.oneof(
      fc.record({
        type: fc.constant('user' as const),
        key: fc.constantFrom('steps', 'n'),
        value: fc.integer({ min: 1, max: 150 }),
      }),
      fc.record({
        type: fc.constant('admin' as const),
        key: fc.constantFrom('max-steps', 'max-n', 'max-side'),
        value: fc.integer({ min: 1, max: 2048 }),
      }),
      fc.record({
        type: fc.constant('imagine' as const),
        steps: fc.option(fc.integer({ min: 1, max: 200 })),
        n: fc.option(fc.integer({ min: 1, max: 4 })),
        side: fc.option(fc.constantFrom(64, 96, 128, 256, 1024)),
      }),
      fc.record({
        type: fc.constant('reply' as const),
        text: fc.constantFrom(
          '#1 150 steps',
          '#2 12 steps',
          'seed 42',
          '#3 --ar 16:9',
          'wider',
          'stronger',
          'variations',
          'upscale',
          'upscale x4',
          '#2 make it green',
          '#1 in the top left: a moon',
          'again',
        ),
      }),
      fc.record({
        type: fc.constant('button' as const),
        action: fc.constantFrom(
          'upscale',
          'upscale_creative',
          'vary',
          'vary_subtle',
          'vary_strong',
          'reroll',
        ),
        cell: fc.integer({ min: 1, max: 4 }),
        onGrid: fc.boolean(),
      }),
    );
    const spy = spyOnQueue();
    let checked = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
          spy.requests.length = 0;
          for (const c of commands) {
            const ctx = bot.ctx('erin');
            if (c.type === 'user') await say(`${c.key} ${c.value}`, 'erin');
            else if (c.type === 'admin') await say(`admin ${c.key} ${c.value}`, 'root', true);
            else if (c.type === 'imagine') {
              const flags = [
                c.steps ? `--steps ${c.steps}` : '',
                c.n ? `--n ${c.n}` : '',
                c.side ? `--size ${c.side}x${c.side}` : '',
              ];
              await bot.send({ kind: 'command', name: 'imagine', text: `a cat ${flags.join(' ')}`, ctx });
            } else if (c.type === 'reply') {
              await bot.send({
                kind: 'reply',
                text: c.text,
                target: { channelId: 'general', messageId: gridMessage },
                ctx,
              });
            } else {
              const imageId = c.onGrid ? gridId : singleId;
              const cell = c.action === 'upscale' && !c.onGrid ? (c.cell % 2 === 0 ? 2 : 4) : c.cell;
              await bot.send({
                kind: 'action',
                customId: encodeAction({ action: c.action, imageId, cell }),
                ctx,
              });
            }
          }
          checked += spy.requests.length;
          for (const { kind, params, limits } of spy.requests) {
            if (typeof params.steps === 'number') expect(params.steps).toBeLessThanOrEqual(limits.maxSteps);
            if (typeof params.n === 'number') expect(params.n).toBeLessThanOrEqual(limits.maxN);
            if (kind === 'generate') {
              expect(Math.max(params.width as number, params.height as number)).toBeLessThanOrEqual(
                limits.maxSide,
              );
              expect((params.width as number) * (params.height as number)).toBeLessThanOrEqual(128 * 128);
            }
            if (kind === 'upscale') {
              const parent = bot.core.store.getImage(params.parentId as string)!;
              expect(parent.width * (params.scale as number)).toBeLessThanOrEqual(limits.maxOutputSide);
            }
          }
        }),
        { numRuns: 60, seed: 20261125 },
      );
      // The sequences did queue jobs (within the limits), not only refusals.
      expect(checked).toBeGreaterThan(50);
    } finally {
      spy.restore();
      await say('admin max-steps reset', 'root', true);
      await say('admin max-n reset', 'root', true);
      await say('admin max-side reset', 'root', true);
    }
  });

  it('property: no sequence of permutations, repeats, uploads, replies and buttons goes over a daily quota', async () => {
    const queue = bot.core.queue;
    const original = queue.enqueueAll.bind(queue);
    // The jobs are recorded in the store (so they count) but not run: the gate is what is tested.
    queue.enqueueAll = ((inputs: Parameters<typeof original>[0]) => {
      const jobs = inputs.map((input) => bot.core.store.createJob({ ...input, priority: 0 }));
      return { ok: true, value: jobs.map((job) => ({ job, position: 1 })) };
    }) as typeof queue.enqueueAll;
    const mask = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
      .composite([
        { input: { create: { width: 32, height: 32, channels: 3, background: '#fff' } }, top: 0, left: 0 },
      ])
      .png()
      .toBuffer();
    const command = fc.oneof(
      fc.record({
        type: fc.constant('imagine' as const),
        options: fc.integer({ min: 1, max: 5 }),
        repeat: fc.integer({ min: 1, max: 4 }),
      }),
      fc.record({
        type: fc.constant('reply' as const),
        text: fc.constantFrom('again', 'variations', '#2 make it green', 'upscale', 'seed 42', 'add a moon'),
      }),
      fc.record({ type: fc.constant('upload' as const), region: fc.boolean() }),
      fc.record({
        type: fc.constant('button' as const),
        action: fc.constantFrom('upscale', 'vary', 'vary_subtle', 'reroll', 'zoom'),
        cell: fc.integer({ min: 1, max: 4 }),
      }),
      fc.record({ type: fc.constant('reset' as const) }),
    );
    let run = 0;
    let charged = 0;
    let refusals = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.array(command, { minLength: 1, maxLength: 10 }),
          async (perDay, commands) => {
            await say(`admin quota ${perDay}/day`, 'root', true);
            const ctx = bot.ctx(`q${run++}`);
            for (const c of commands) {
              let replies: Reply[] = [];
              if (c.type === 'imagine') {
                const options = Array.from({ length: c.options }, (_, i) => `o${i}`).join(', ');
                const text = `a {${options}} cat --n 1 --repeat ${c.repeat}`;
                replies = await bot.send({ kind: 'command', name: 'imagine', text, ctx });
              } else if (c.type === 'reply') {
                const target = { channelId: 'general', messageId: gridMessage };
                replies = await bot.send({ kind: 'reply', text: c.text, target, ctx });
              } else if (c.type === 'upload') {
                const attachment = { name: 'mask.png', size: mask.length, bytes: new Uint8Array(mask) };
                replies = c.region
                  ? await bot.send({
                      kind: 'command',
                      name: 'region',
                      text: `${singleId} a moon`,
                      ctx,
                      attachment,
                    })
                  : await bot.send({
                      kind: 'reply',
                      text: 'a moon',
                      target: { channelId: 'general', messageId: gridMessage },
                      ctx,
                      attachment,
                    });
              } else if (c.type === 'button') {
                const onGrid = c.action === 'upscale' || c.action === 'vary';
                const cell = c.action === 'zoom' ? 20 : c.cell;
                const customId = encodeAction({
                  action: c.action,
                  imageId: onGrid ? gridId : singleId,
                  cell,
                });
                replies = await bot.send({ kind: 'action', customId, ctx });
              } else {
                await say(`admin quota-reset ${ctx.userId}`, 'root', true);
              }
              const status = quotaStatus(bot.bot.deps, ctx);
              expect(status.used).toBeLessThanOrEqual(perDay);
              charged += replies.filter((r) => r.type === 'queued').length;
              refusals += replies.filter((r) => r.type === 'text' && /daily quota/.test(r.text)).length;
            }
          },
        ),
        { numRuns: 40, seed: 20261206 },
      );
      // The sequences both queued jobs and were refused at the quota.
      expect(charged).toBeGreaterThan(40);
      expect(refusals).toBeGreaterThan(20);
    } finally {
      queue.enqueueAll = original;
      await say('admin quota off', 'root', true);
    }
  });
});
