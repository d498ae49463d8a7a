/**
 * Uploaded pictures, read by `readUpload` once image intake admitted them: each awkward kind is brought
 * to flowbot's own form (upright, 8-bit sRGB, flattened, first frame), and an SVG is refused by intake
 * before any decoder sees it.
 */
import { describe, expect, it } from 'vitest';
import { inspectImage } from '../src/intake/inspect.js';
import { readUpload } from '../src/pipeline/image.js';
import {
  animatedGif,
  cmykJpeg,
  photoJpeg,
  sidewaysJpeg,
  sixteenBitPng,
  svgDrawing,
  transparentPng,
} from './helpers/upload-images.js';

/** The RGB of pixel (x, y). */
function pixel(image: { width: number; pixels: Uint8Array }, x: number, y: number): number[] {
  const at = 3 * (y * image.width + x);
  return [...image.pixels.subarray(at, at + 3)];
}

const fit = { maxSide: 2048 };

describe('an uploaded picture', () => {
  it('in CMYK is converted to sRGB: red stays red and blue stays blue', async () => {
    const { image } = await readUpload(await cmykJpeg(), fit);
    expect([image.width, image.height, image.pixels.length]).toEqual([96, 64, 96 * 64 * 3]);
    const [r, , b] = pixel(image, 10, 30);
    expect(r).toBeGreaterThan(200);
    expect(b).toBeLessThan(80);
    // Pure blue lies outside what CMYK ink can print, so it comes back a deep blue.
    const [r2, g2, b2] = pixel(image, 80, 30);
    expect(b2).toBeGreaterThan(120);
    expect(b2).toBeGreaterThan(r2! + 40);
    expect(b2).toBeGreaterThan(g2! + 40);
  });

  it('at 16 bits per channel becomes 8-bit', async () => {
    const { image } = await readUpload(await sixteenBitPng(), fit);
    expect(image.pixels.length).toBe(96 * 64 * 3);
    expect(pixel(image, 10, 30)).toEqual([255, 0, 0]);
  });

  it('with transparency is flattened onto white, not onto what hides under the transparent pixels', async () => {
    const { image } = await readUpload(await transparentPng(), fit);
    expect(pixel(image, 10, 30)).toEqual([255, 255, 255]);
    expect(pixel(image, 80, 30)).toEqual([0, 0, 255]);
  });

  it('stored sideways with an EXIF orientation is turned upright', async () => {
    const { image } = await readUpload(await sidewaysJpeg(), fit);
    expect([image.width, image.height]).toEqual([96, 64]);
    expect(pixel(image, 10, 30)[0]).toBeGreaterThan(200);
    expect(pixel(image, 80, 30)[2]).toBeGreaterThan(200);
  });

  it('that is an animated GIF is read as its first frame, and intake says it is animated', async () => {
    const gif = await animatedGif();
    expect(inspectImage(gif)).toEqual({ format: 'gif', width: 48, height: 32, animated: true });
    const { image, facts } = await readUpload(gif, fit);
    expect(facts.animated).toBe(true);
    expect([image.width, image.height]).toEqual([48, 32]);
    expect(pixel(image, 20, 20)).toEqual([255, 0, 0]);
  });

  it('larger than the side limit is scaled down to fit, keeping its aspect ratio', async () => {
    const { image } = await readUpload(await photoJpeg(300, 200), { maxSide: 150 });
    expect([image.width, image.height]).toEqual([150, 100]);
  });

  it('is cover-cropped to an exact size when one is asked for', async () => {
    const { image } = await readUpload(await photoJpeg(300, 200), { size: { width: 64, height: 64 } });
    expect([image.width, image.height]).toEqual([64, 64]);
  });

  it('that is an SVG is refused with a friendly message before any decoder sees it', async () => {
    await expect(readUpload(svgDrawing(), fit)).rejects.toThrow(
      'That image is an SVG, a drawing made of instructions rather than pixels, and I do not open those. Export it as a PNG and send that.',
    );
    expect(() => inspectImage(Buffer.from('  <svg xmlns="http://www.w3.org/2000/svg"></svg>'))).toThrow(
      /SVG/,
    );
  });
});
