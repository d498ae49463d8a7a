/**
 * Midjourney's prompt toolkit through the command path (real store, queue and pipeline on the fixture
 * model): permutations, --repeat, daily quotas and model permissions.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAction } from '../commands/actions.js';
import type { Reply } from '../commands/types.js';
import { draftSteps } from '../src/pipeline/draft.js';
import { readImage } from '../src/pipeline/image.js';
import { loadModelSpec } from '../src/pipeline/model.js';
import { FIXTURE_MODELS, TestBot } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir();
let bot: TestBot;
beforeAll(() => {
  bot = new TestBot(t.dir, { MAX_JOBS_PER_USER: '3' });
});
afterAll(async () => {
  await bot.close();
  t.cleanup();
});

const admin = (text: string) =>
  bot.send({ kind: 'command', name: 'settings', text, ctx: bot.ctx('root', { isAdmin: true }) });
const imagine = (text: string, userId: string, extra = {}) =>
  bot.send({ kind: 'command', name: 'imagine', text, ctx: bot.ctx(userId, extra) });
const textOf = (replies: Reply[]) =>
  replies.map((r) => (r.type === 'text' || r.type === 'queued' ? r.text : r.type)).join(' | ');
const jobsOf = (replies: Reply[]) =>
  replies.flatMap((r) => (r.type === 'queued' ? [bot.core.store.getJob(r.jobId)!] : []));

describe('permutations and --repeat', () => {
  it('{red, blue} apple --n 1 makes two jobs with the right prompts, each result line showing its prompt', async () => {
    const replies = await imagine('{red, blue} apple --n 1 --seed 11', 'perm');
    const jobs = jobsOf(replies);
    expect(jobs.map((job) => (job.params as { prompt: string }).prompt)).toEqual(['red apple', 'blue apple']);
    // Permutations share the seed, so they differ only in their words.
    expect(jobs.map((job) => (job.params as { seed: number }).seed)).toEqual([11, 11]);
    await bot.core.queue.onIdle();
    const lines = jobs.map((job) => bot.bot.resultView(job.id)!.text);
    expect(lines).toEqual([
      'Imagined: "red apple" · 1 image · 64×64 · seed 11 · 1 of 2',
      'Imagined: "blue apple" · 1 image · 64×64 · seed 11 · 2 of 2',
    ]);
  });

  it('--repeat 3 makes three jobs of the same prompt with new seeds', async () => {
    const replies = await imagine('a pear --n 1 --repeat 3', 'rep');
    const jobs = jobsOf(replies);
    expect(jobs).toHaveLength(3);
    const params = jobs.map((job) => job.params as { prompt: string; seed: number });
    expect(params.map((p) => p.prompt)).toEqual(['a pear', 'a pear', 'a pear']);
    expect(new Set(params.map((p) => p.seed)).size).toBe(3);
    const seeded = jobsOf(await imagine('a plum --repeat 2 --seed 40', 'rep2'));
    // With --seed, the repeats continue after each grid's own seeds, so the set can be made again.
    expect(seeded.map((job) => (job.params as { seed: number }).seed)).toEqual([40, 44]);
    await bot.core.queue.onIdle();
    expect([...jobs, ...seeded].map((job) => bot.core.store.getJob(job.id)!.state)).toEqual(
      Array(5).fill('succeeded'),
    );
  });

  it('refuses a 12-way permutation under the default limit, with the count, and queues nothing', async () => {
    const before = bot.core.store.countJobsSince('many', 0);
    const replies = await imagine('a {red, green, blue} {cat, dog, fox, owl} --n 1', 'many');
    expect(textOf(replies)).toBe('That prompt expands to 12 prompts; at most 8 are allowed here at once.');
    const repeated = await imagine('{a, b, c} cat --repeat 3', 'many');
    expect(textOf(repeated)).toBe(
      'That makes 9 jobs (3 prompts with --repeat); at most 8 are allowed here at once.',
    );
    expect(bot.core.store.countJobsSince('many', 0)).toBe(before);
  });

  it('a permutation larger than the per-user cap is queued whole, and a flag error names its prompt', async () => {
    expect(jobsOf(await imagine('{a, b, c, d} moon --n 1', 'cap'))).toHaveLength(4);
    expect(textOf(await imagine('{a, b} sun --steps 500', 'cap2'))).toBe(
      'In "a sun --steps 500": Expected an integer 1–50 for --steps but received "500".',
    );
    await bot.core.queue.onIdle();
  });
});

describe('daily quotas', () => {
  it('a quota of 2 a day refuses the third job, saying when it resets; /quota shows it', async () => {
    expect(textOf(await admin('admin quota 2/day'))).toBe('Everyone may now queue 2 jobs a day.');
    try {
      expect(jobsOf(await imagine('a lemon --n 1', 'quota'))).toHaveLength(1);
      expect(jobsOf(await imagine('a lime --n 1', 'quota'))).toHaveLength(1);
      const third = textOf(await imagine('a melon --n 1', 'quota'));
      expect(third).toMatch(
        /^You've used your daily quota of 2 jobs \(for everyone\)\. It resets at 00:00 UTC \(in (\d{1,2} h )?\d{1,2} min\)\.$/,
      );
      const shown = await bot.send({ kind: 'command', name: 'quota', text: '', ctx: bot.ctx('quota') });
      expect(textOf(shown)).toMatch(
        /^Today: 2 of 2 jobs used \(quota for everyone\), 0 left\. It resets at 00:00 UTC/,
      );
      // A request of several jobs is refused whole when it does not fit what is left.
      expect(textOf(await imagine('{a, b, c} kiwi --n 1', 'quota2'))).toMatch(
        /^That makes 3 jobs, but only 2 of your daily quota of 2 \(for everyone\) are left\. It resets at 00:00 UTC/,
      );
      expect(textOf(await admin('admin quota-reset <@quota>'))).toBe("<@quota>'s quota for today is reset.");
      expect(jobsOf(await imagine('a melon --n 1', 'quota'))).toHaveLength(1);
      // Admins have no quota.
      expect(jobsOf(await imagine('a fig --n 1', 'root', { isAdmin: true }))).toHaveLength(1);
      await bot.core.queue.onIdle();
    } finally {
      await admin('admin quota off');
    }
  });

  it('a request of several jobs meets the hourly limit whole, saying when there is room', async () => {
    await admin('admin jobs-per-hour 3');
    try {
      expect(textOf(await imagine('{a, b, c, d} x --n 1', 'hourly'))).toBe(
        'That makes 4 jobs, more than the limit of 3 images per hour here.',
      );
      expect(jobsOf(await imagine('{a, b} y --n 1', 'hourly'))).toHaveLength(2);
      expect(textOf(await imagine('{a, b} z --n 1', 'hourly'))).toBe(
        'That makes 2 jobs, but only 1 of the 3 images per hour is left here. Room for 2 opens up in 60 minutes.',
      );
      await bot.core.queue.onIdle();
    } finally {
      await admin('admin jobs-per-hour reset');
    }
  });

  it('failed and cancelled jobs do not count against the quota', async () => {
    await admin('admin quota 1/day');
    try {
      const [queued] = await imagine('a date --n 1', 'refund');
      if (queued?.type !== 'queued') throw new Error(textOf([queued!]));
      bot.core.queue.cancel(queued.jobId, 'refund');
      await bot.core.queue.onIdle();
      expect(jobsOf(await imagine('a date --n 1', 'refund'))).toHaveLength(1);
      await bot.core.queue.onIdle();
    } finally {
      await admin('admin quota off');
    }
  });

  it('per-role quotas and role-restricted models need roles, which only Discord has', async () => {
    const slackAdmin = bot.ctx('root', { isAdmin: true, platform: 'slack' });
    const onSlack = (text: string) => bot.send({ kind: 'command', name: 'settings', text, ctx: slackAdmin });
    expect(textOf(await onSlack('admin quota 5/day @artists'))).toMatch(/^Roles are a Discord thing/);
    expect(textOf(await onSlack('admin model flow-tiny roles @artists'))).toMatch(
      /^Roles are a Discord thing/,
    );
  });
});

describe('model permissions', () => {
  it('a model restricted to admins is refused to others, naming the limit, from prompts and replies', async () => {
    const made = await bot.run({
      kind: 'command',
      name: 'imagine',
      text: 'a cat --model sd-tiny --n 1',
      ctx: bot.ctx('root', { isAdmin: true }),
    });
    expect(textOf(await admin('admin model sd-tiny admins'))).toBe('sd-tiny is now for admins only.');
    try {
      expect(
        textOf(
          await bot.send({
            kind: 'reply',
            text: 'add a moon',
            target: { channelId: 'general', messageId: made.messageId! },
            ctx: bot.ctx('plain'),
          }),
        ),
      ).toMatch(/^The model sd-tiny is limited to admins only here\./);
      const refused = textOf(await imagine('a cat --model sd-tiny --n 1', 'plain'));
      expect(refused).toMatch(/^The model sd-tiny is limited to admins only here\. Only admins can use it\./);
      expect(refused).toContain('Models you can use: ');
      expect(jobsOf(await imagine('a cat --model sd-tiny --n 1', 'root', { isAdmin: true }))).toHaveLength(1);
      expect(textOf(await admin('admin model'))).toBe('Restricted models:\nsd-tiny: admins only');
    } finally {
      expect(textOf(await admin('admin model sd-tiny everyone'))).toBe('sd-tiny is open to everyone now.');
      await bot.core.queue.onIdle();
    }
  });
});

/** Mean absolute difference of two images' bytes (0–255). */
function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/**
 * A draft's distance to its seed's full image, at most this share of its distance to another seed's.
 * Measured: 0.28 for the prompt below (8.8 against 31.4 of 255); 0.42 on average over the model card's
 * 200 prompts.
 */
const DRAFT_NEARNESS = 0.5;

describe('--draft', () => {
  it('uses the fastest good step count of each model', () => {
    const steps = (dir: string) => draftSteps(loadModelSpec(dir));
    expect(steps(path.resolve(import.meta.dirname, '..', 'models', 'flowbot-emoji'))).toBe(2);
    expect(
      ['flow-tiny', 'sd-tiny', 'sdxl-tiny', 'sd3-tiny', 'flux-schnell-tiny', 'flux-dev-tiny'].map((name) =>
        steps(path.join(FIXTURE_MODELS, name)),
      ),
    ).toEqual([2, 10, 10, 10, 2, 10]);
  });

  it('on a model without a draft denoiser: fewer steps of its denoiser, then Enhance with the same seed', async () => {
    const draft = await bot.imagine('a cat --draft --seed 21', 'drafter');
    const job = bot.core.store.getJob(draft.view!.jobId!)!;
    expect(job.params).toMatchObject({ steps: 2, draft: true, seed: 21 });
    expect(draft.view!.text).toBe('Imagined: "a cat" · 4 images · 64×64 · seed 21 · draft (2 steps)');
    const enhanceButton = draft.view!.buttons.find((b) => b.label === 'Enhance')!;
    expect(enhanceButton.customId).toBe(encodeAction({ action: 'enhance', imageId: draft.view!.imageId }));
    const full = await bot.press(enhanceButton.customId, 'drafter');
    const enhanced = bot.core.store.getJob(full.view!.jobId!)!;
    expect(enhanced.params).toMatchObject({ steps: 4, seed: 21, n: 4, parentId: draft.view!.imageId });
    expect((enhanced.params as { draft?: boolean }).draft).toBeUndefined();
    expect(full.view!.text).toMatch(/^Enhanced: "a cat" · 4 steps \(the draft had 2\) · seed 21 · from #/);
    expect(full.view!.buttons.map((b) => b.label)).not.toContain('Enhance');
    expect(full.view!.cellIds.map((id) => bot.core.store.getImage(id)!.seed)).toEqual([21, 22, 23, 24]);
    // Made again at full steps, the image is the one a plain prompt with that seed makes.
    const plain = await bot.imagine('a cat --seed 21', 'drafter');
    const pixels = async (file: string) => Buffer.from((await readImage(file)).pixels);
    expect((await pixels(full.view!.file)).equals(await pixels(plain.view!.file))).toBe(true);
    expect(
      textOf([
        (await bot.press(enhanceButton.customId.replace(draft.view!.imageId, plain.view!.imageId), 'drafter'))
          .reply,
      ]),
    ).toBe('Only drafts (made with --draft) can be enhanced; this image is already the full one.');
  });

  it('on the shipped model: two steps of its draft denoiser without a guidance pass; Enhance runs the full one', async () => {
    const shipped = new TestBot(path.join(t.dir, 'shipped'), {
      MODELS_DIR: path.resolve(import.meta.dirname, '..', 'models'),
      MODEL: 'flowbot-emoji',
    });
    try {
      const draft = await shipped.imagine('a red apple --draft --seed 9 --n 1', 'drafter');
      expect(draft.view!.text).toBe(
        'Imagined: "a red apple" · 1 image · 64×64 · seed 9 · draft (2 steps of the draft denoiser)',
      );
      const made = shipped.core.store.getImage(draft.view!.imageId)!;
      expect(made).toMatchObject({ steps: 2, guidance: 1, extra: { denoiser: 'draft_denoiser.onnx' } });
      // The job keeps the full guidance for Enhance; the draft denoiser runs at the model's draft_guidance.
      expect(shipped.core.store.getJob(made.jobId!)!.params).toMatchObject({
        draft: true,
        steps: 2,
        guidance: 4,
      });
      const enhance = draft.view!.buttons.find((b) => b.label === 'Enhance')!;
      const full = await shipped.press(enhance.customId, 'drafter');
      expect(full.view!.text).toMatch(
        /^Enhanced: "a red apple" · 8 steps \(the draft had 2\) · seed 9 · from #/,
      );
      const enhanced = shipped.core.store.getImage(full.view!.imageId)!;
      expect(enhanced).toMatchObject({
        seed: 9,
        steps: 8,
        guidance: 4,
        extra: { denoiser: 'denoiser.onnx' },
      });
      // The student was distilled on the teacher's images for the same noise: a draft is near the full
      // image of its seed, much nearer than to the full image of another seed.
      const other = await shipped.imagine('a red apple --seed 10 --n 1', 'drafter');
      const pixelsOf = async (imageId: string) =>
        (await readImage(shipped.core.files.resolve(shipped.core.store.getImage(imageId)!.filePath))).pixels;
      const draftPixels = await pixelsOf(draft.view!.imageId);
      const sameSeed = meanAbsoluteDifference(draftPixels, await pixelsOf(enhanced.id));
      const otherSeed = meanAbsoluteDifference(draftPixels, await pixelsOf(other.view!.imageId));
      expect(sameSeed).toBeLessThan(DRAFT_NEARNESS * otherSeed);
    } finally {
      await shipped.close();
    }
  });

  it('refuses --draft with --steps', async () => {
    expect(textOf(await imagine('a cat --draft --steps 3', 'drafter'))).toBe(
      'Use either --draft (the fastest good step count) or --steps, not both.',
    );
  });
});
