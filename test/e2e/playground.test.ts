/**
 * End to end in a real browser (Debian's chromium, driven by playwright-core): the playground's whole
 * flow, with a screenshot of each step under .tmp/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebAdapter } from '../../adapters/web/server.js';
import { createBot } from '../../commands/index.js';
import { type Core, createCore } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { LinkSigner } from '../../src/links.js';
import { readImage, readMask } from '../../src/pipeline/image.js';
import { FIXTURE_MODELS } from '../helpers/bot.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/tmp.js';

const SHOTS = path.resolve(import.meta.dirname, '..', '..', '.tmp', 'screenshots');
const available = chromiumAvailable();

describe.skipIf(!available)('playground in a browser', () => {
  const t = tempDir();
  let core: Core;
  let web: WebAdapter;
  let browser: Browser;
  let page: Page;
  let base: string;
  let bot: ReturnType<typeof createBot>;
  const signer = new LinkSigner('test-secret-0123456789');

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const config = loadConfig({
      env: {
        DATA_DIR: t.dir,
        MODELS_DIR: FIXTURE_MODELS,
        MODEL: 'flow-tiny',
        UPSCALER: 'sr-x4-tiny',
        LOG_LEVEL: 'error',
      },
    });
    core = createCore(config, { threads: 1, previewEvery: 1 });
    let adapter: WebAdapter | undefined;
    bot = createBot(core, (imageId, userId, platform, channelId) =>
      adapter?.editorPath(imageId, userId, platform, channelId),
    );
    adapter = new WebAdapter({ bot, signer, host: '127.0.0.1', port: 0 });
    web = adapter;
    base = await web.listen();
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

  it('a ?token= login leaves the address bar without the token, and the page works on the cookie', async () => {
    const token = 'a-long-random-web-token-for-the-browser';
    const guarded = new WebAdapter({ bot, signer, host: '127.0.0.1', port: 0, token });
    const guardedBase = await guarded.listen();
    const login = await browser.newPage();
    try {
      await login.goto(`${guardedBase}/?token=${token}`);
      expect(login.url()).toBe(`${guardedBase}/`);
      // The page's own requests (its history first) pass on the cookie alone.
      await login.waitForSelector('body[data-ready="true"]');
      const cookies = await login.context().cookies();
      expect(cookies.map((c) => c.name)).toEqual(['flowbot_session']);
      expect(cookies[0]!.value).not.toContain(token);
    } finally {
      await login.close();
      await guarded.close();
    }
  });

  it('imagines, upscales, refines by reply, and repaints a drawn region', async () => {
    // 1. Type the prompt.
    await page.fill('[data-testid="prompt"]', '/imagine a red apple --seed 3');
    await page.screenshot({ path: path.join(SHOTS, '1-typed.png') });
    await page.click('[data-testid="send"]');

    // 2. The grid appears.
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(1);
    const grid = results().first();
    await expect
      .poll(() =>
        grid
          .locator('[data-testid="result-image"]')
          .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(128);
    // One message per job, after the person's own line: the grid took its status card's place.
    expect(await page.locator('[data-testid="status"]').count()).toBe(0);
    const order = await page
      .locator('#chat > .entry')
      .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-testid')));
    expect(order).toEqual(['mine', 'result']);
    await page.screenshot({ path: path.join(SHOTS, '2-grid.png') });

    // 3. U2 gives the upscaled second image.
    await grid.locator('[data-testid="btn-U2"]').click();
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(2);
    const upscaled = results().nth(1);
    expect(await upscaled.locator('.text').textContent()).toMatch(/^Upscaled ×4 · #\w+ · 256×256$/);
    await page.screenshot({ path: path.join(SHOTS, '3-upscaled.png') });

    // 4. Reply "make it green" to the grid's second image.
    await grid.locator('[data-testid="reply"]').click();
    await page.fill('[data-testid="prompt"]', '#2 make it green');
    await page.click('[data-testid="send"]');
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(3);
    const refined = results().nth(2);
    expect(await refined.locator('.text').textContent()).toMatch(
      /^Refined: "a red apple" → "a red apple, green" · img2img 0.55 · seed 4 · from #\w+$/,
    );
    await page.screenshot({ path: path.join(SHOTS, '4-refined.png') });

    // 5. Open the mask editor from the refined image, draw a stroke, apply "a bite mark".
    const refinedId = (await refined.getAttribute('data-image-id'))!;
    const link = await refined.locator('[data-testid="btn-Vary region"]').getAttribute('href');
    expect(link).toMatch(/^\/editor\?image=/);
    const editor = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    await editor.goto(`${base}${link}`);
    const canvas = editor.locator('[data-testid="mask-canvas"]');
    const box = (await canvas.boundingBox())!;
    await editor.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    await editor.mouse.down();
    await editor.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.5, { steps: 12 });
    await editor.mouse.up();
    await editor.fill('[data-testid="region-prompt"]', 'a bite mark');
    await editor.screenshot({ path: path.join(SHOTS, '5-editor.png') });
    await editor.click('[data-testid="apply"]');
    await expect
      .poll(() => editor.locator('[data-testid="editor-status"]').getAttribute('data-state'), {
        timeout: 10_000,
      })
      .toBe('queued');
    await editor.close();

    // The repainted image appears in the playground, changed only inside the stroke.
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(4);
    const painted = results().nth(3);
    await page.screenshot({ path: path.join(SHOTS, '6-repainted.png') });
    const paintedId = (await painted.getAttribute('data-image-id'))!;
    const record = core.store.getImage(paintedId)!;
    expect(record).toMatchObject({ operation: 'inpaint', parentId: refinedId, prompt: 'a bite mark' });
    const mask = core.store.getMask(record.maskId!)!;
    expect(mask.source).toBe('drawing');
    const size = { width: record.width, height: record.height };
    const values = await readMask(core.files.resolve(mask.filePath), size);
    const inside = values.reduce((a, b) => a + b, 0);
    expect(inside).toBeGreaterThan(20);
    expect(inside).toBeLessThan(values.length / 2);
    const before = await readImage(core.files.resolve(core.store.getImage(refinedId)!.filePath));
    const after = await readImage(core.files.resolve(record.filePath));
    let changedOutside = 0;
    let changedInside = 0;
    for (let i = 0; i < values.length; i++) {
      const changed = [0, 1, 2].some((c) => before.pixels[3 * i + c] !== after.pixels[3 * i + c]);
      if (values[i] === 0 && changed) changedOutside++;
      if (values[i] === 1 && changed) changedInside++;
    }
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(0);
  });

  it('keeps the conversation across a reload, and shows the lineage', async () => {
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await results().count()).toBe(4);
    await results().nth(3).locator('[data-testid="lineage"]').click();
    await expect.poll(() => page.locator('[data-testid="ancestor"]').count()).toBe(3);
    await page.screenshot({ path: path.join(SHOTS, '7-lineage.png') });
  });

  it('refuses expired and tampered editor links with a clear page', async () => {
    const expired = new LinkSigner('test-secret-0123456789', () => Date.now() - 16 * 60 * 1000).query(
      'abcdef',
      'local',
      'web',
      'playground',
    );
    const response = await fetch(`${base}/editor?${expired}`);
    expect(response.status).toBe(410);
    expect(await response.text()).toContain('This editing link has expired');
    const valid = new LinkSigner('test-secret-0123456789').query('abcdef', 'local', 'web', 'playground');
    const tampered = valid.replace('image=abcdef', 'image=zzzzzz');
    const denied = await fetch(`${base}/editor?${tampered}`);
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain('not valid');
    const apply = await fetch(`${base}/api/editor`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ query: tampered, mask: 'data:image/png;base64,AAAA', prompt: 'x' }),
    });
    expect(apply.status).toBe(403);
    expect(((await apply.json()) as { error: string }).error).toBe('This editing link is not valid.');
  });
});
