/**
 * The playground's ⚡ Quick preview in a real browser on the shipped model: the typed prompt runs as a
 * `--draft` (its two-step draft denoiser, no guidance pass), shown like any result, and its Enhance
 * button makes the full eight-step, guidance-4 image with the same seed. Nothing here depends on what
 * the images look like.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebAdapter } from '../../adapters/web/server.js';
import { createBot } from '../../commands/index.js';
import { type Core, createCore } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { LinkSigner } from '../../src/links.js';
import { gridCellIds, type ImageRecord } from '../../src/store/image-repository.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/tmp.js';

const MODELS = path.resolve(import.meta.dirname, '..', '..', 'models');

describe.skipIf(!chromiumAvailable())('playground quick preview on the shipped model', () => {
  const t = tempDir();
  let core: Core;
  let web: WebAdapter;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const config = loadConfig({
      env: { DATA_DIR: t.dir, MODELS_DIR: MODELS, MODEL: 'flowbot-emoji', LOG_LEVEL: 'error' },
    });
    core = createCore(config, { threads: 1, previewEvery: 0 });
    const bot = createBot(core, () => undefined);
    web = new WebAdapter({
      bot,
      signer: new LinkSigner('test-secret-0123456789'),
      host: '127.0.0.1',
      port: 0,
    });
    const base = await web.listen();
    core.queue.recover();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(base);
    await page.waitForSelector('body[data-ready="true"]');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await core?.close();
    t.cleanup();
  });

  const results = () => page.locator('[data-testid="result"]');
  const recordOf = async (index: number) => {
    const id = (await results().nth(index).getAttribute('data-image-id'))!;
    return core.store.getImage(id)!;
  };
  /** The denoiser each cell of a grid record says made it. */
  const denoisersOf = (grid: ImageRecord) =>
    gridCellIds(grid).map((id) => (core.store.getImage(id)!.extra as { denoiser?: string }).denoiser);

  it('⚡ makes a two-step draft of the typed prompt; Enhance makes the full image with the same seed', async () => {
    await page.fill('[data-testid="prompt"]', 'a grinning face --seed 7');
    await page.click('[data-testid="quick-preview"]');
    await expect.poll(() => results().count(), { timeout: 60_000 }).toBe(1);
    expect(await page.locator('[data-testid="mine"] .text').last().textContent()).toBe(
      '/imagine a grinning face --seed 7 --draft',
    );
    const draft = results().first();
    expect(await draft.locator('.text').textContent()).toBe(
      'Imagined: "a grinning face" · 4 images · 64×64 · seed 7 · draft (2 steps of the draft denoiser)',
    );
    const drafted = await recordOf(0);
    expect(drafted).toMatchObject({ operation: 'grid', seed: 7, steps: 2, guidance: 1 });
    expect(denoisersOf(drafted)).toEqual(Array(4).fill('draft_denoiser.onnx'));
    expect(core.store.getJob(drafted.jobId!)!.params).toMatchObject({ draft: true, steps: 2, seed: 7 });

    await draft.locator('[data-testid="btn-Enhance"]').click();
    await expect.poll(() => results().count(), { timeout: 60_000 }).toBe(2);
    expect(await results().nth(1).locator('.text').textContent()).toMatch(
      /^Enhanced: "a grinning face" · 8 steps \(the draft had 2\) · seed 7 · from #\w+$/,
    );
    const full = await recordOf(1);
    expect(full).toMatchObject({ operation: 'grid', seed: 7, steps: 8, guidance: 4, parentId: drafted.id });
    expect(denoisersOf(full)).toEqual(Array(4).fill('denoiser.onnx'));
    expect((core.store.getJob(full.jobId!)!.params as { draft?: boolean }).draft).toBeUndefined();
    // The full image has no Enhance of its own.
    expect(await results().nth(1).locator('[data-testid="btn-Enhance"]').count()).toBe(0);
  }, 120_000);

  it('⚡ on an empty box or a command says what it does instead of sending anything', async () => {
    const before = await page.locator('[data-testid="mine"]').count();
    await page.fill('[data-testid="prompt"]', '');
    await page.click('[data-testid="quick-preview"]');
    await expect
      .poll(() => page.locator('[data-testid="note"]').last().textContent())
      .toContain('Type a prompt first: ⚡ makes a quick draft of it.');
    await page.fill('[data-testid="prompt"]', '/help');
    await page.click('[data-testid="quick-preview"]');
    await expect
      .poll(() => page.locator('[data-testid="note"]').last().textContent())
      .toContain('type the prompt without a command');
    expect(await page.locator('[data-testid="mine"]').count()).toBe(before);
  });
});
