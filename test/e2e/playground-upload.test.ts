/**
 * Uploads in the playground, end to end in a real browser (Debian's chromium, driven by
 * playwright-core): the 📎 button, a file dropped on the page and an image pasted each bring a picture
 * into the conversation; "upscale" typed with it makes it 4× larger, and an SVG is refused.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebAdapter } from '../../adapters/web/server.js';
import { createBot } from '../../commands/index.js';
import { type Core, createCore } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { LinkSigner } from '../../src/links.js';
import { FIXTURE_MODELS } from '../helpers/bot.js';
import { tempDir } from '../helpers/tmp.js';
import { photoPng, svgDrawing } from '../helpers/upload-images.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI)
  throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium for this test`);

describe.skipIf(!available)('playground uploads in a browser', () => {
  const t = tempDir();
  let core: Core;
  let web: WebAdapter;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const config = loadConfig({
      env: {
        DATA_DIR: t.dir,
        MODELS_DIR: FIXTURE_MODELS,
        MODEL: 'flow-tiny',
        UPSCALER: 'sr-x4-tiny',
        LOG_LEVEL: 'error',
      },
    });
    core = createCore(config, { threads: 1, previewEvery: 0 });
    const bot = createBot(core);
    web = new WebAdapter({
      bot,
      signer: new LinkSigner('test-secret-0123456789'),
      host: '127.0.0.1',
      port: 0,
    });
    const base = await web.listen();
    core.queue.recover();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
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
  /** The natural size of the index-th image shown. */
  const sizeOf = (index: number) =>
    results()
      .nth(index)
      .locator('[data-testid="result-image"]')
      .evaluate((img) => {
        const image = img as unknown as { naturalWidth: number; naturalHeight: number; complete: boolean };
        return image.complete ? `${image.naturalWidth}×${image.naturalHeight}` : 'loading';
      });

  it('the 📎 button uploads a picture with "upscale": it is shown, then 4× larger', async () => {
    await page.fill('[data-testid="prompt"]', 'upscale');
    await page.setInputFiles('[data-testid="upload-file"]', {
      name: 'me.png',
      mimeType: 'image/png',
      buffer: await photoPng(40, 24),
    });
    // The picture itself (the person's line), then the upscale.
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(() => sizeOf(0)).toBe('40×24');
    await expect.poll(() => sizeOf(1)).toBe('160×96');
    expect(await page.inputValue('[data-testid="prompt"]')).toBe('');
  });

  /**
   * Sends `bytes` to the page as a dropped file or a pasted one, as the browser would: a DataTransfer
   * holding the File, on a drop or paste event. (Page code, kept as text: this project has no DOM types.)
   */
  async function hand(how: 'drop' | 'paste', bytes: Buffer, name: string, type: string): Promise<void> {
    const args = JSON.stringify({ how, data: bytes.toString('base64'), name, type });
    await page.evaluate(`(({ how, data, name, type }) => {
      const file = new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, { type });
      const transfer = new DataTransfer();
      transfer.items.add(file);
      const event = how === 'drop'
        ? new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true })
        : new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true });
      document.querySelector('#chat').dispatchEvent(event);
    })(${args})`);
  }

  it('a dropped file and a pasted image each join the conversation', async () => {
    const before = await results().count();
    await hand('drop', await photoPng(30, 20), 'dropped.png', 'image/png');
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(before + 1);
    await expect.poll(() => sizeOf(before)).toBe('30×20');
    await hand('paste', await photoPng(20, 30), 'image.png', 'image/png');
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(before + 2);
    await expect.poll(() => sizeOf(before + 1)).toBe('20×30');
    // Typed with no message chosen, "upscale" acts on the latest picture.
    await page.fill('[data-testid="prompt"]', 'upscale');
    await page.click('[data-testid="send"]');
    await expect.poll(() => results().count(), { timeout: 30_000 }).toBe(before + 3);
    await expect.poll(() => sizeOf(before + 2)).toBe('80×120');
  });

  it('an SVG is refused with a friendly note, and nothing joins the conversation', async () => {
    const before = await results().count();
    await hand('drop', svgDrawing(), 'logo.svg', 'image/svg+xml');
    await expect
      .poll(() => page.locator('#chat').textContent(), { timeout: 10_000 })
      .toMatch(/That image is an SVG, a drawing made of instructions rather than pixels/);
    expect(await results().count()).toBe(before);
  });
});
