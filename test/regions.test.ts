import { describe, expect, it } from 'vitest';
import { parseRegion, regionMask } from '../src/masks/regions.js';

function coverage(words: string, size = 12): { inside: (x: number, y: number) => boolean; fraction: number } {
  const region = parseRegion(words);
  if (!region.ok) throw new Error(region.error.message);
  const mask = regionMask(region.value, size, size);
  return {
    inside: (x, y) => mask[y * size + x] === 1,
    fraction: mask.reduce((a, b) => a + b, 0) / mask.length,
  };
}

describe('regions', () => {
  it.each([
    ['top left', 0.25, [1, 1], [10, 10]],
    ['in the top-left corner', 0.25, [1, 1], [10, 1]],
    ['the left half', 0.5, [1, 10], [10, 1]],
    ['bottom third', 1 / 3, [5, 11], [5, 1]],
    ['centre', 0.25, [6, 6], [0, 0]],
    ['the middle', 0.25, [6, 6], [11, 11]],
    ['edges', 1 - 0.5 * 0.5 - 0.0, [0, 6], [6, 6]],
    ['A1', 1 / 9, [1, 1], [5, 5]],
    ['B2 C3', 2 / 9, [5, 5], [1, 1]],
    ['x 0-50% y 0-25%', 0.125, [1, 1], [1, 5]],
  ] as const)('"%s" covers the named area', (words, fraction, inside, outside) => {
    const c = coverage(words);
    if (words !== 'edges') expect(c.fraction).toBeCloseTo(fraction, 2);
    expect(c.inside(inside[0], inside[1])).toBe(true);
    expect(c.inside(outside[0], outside[1])).toBe(false);
  });

  it('lists the valid regions for unknown words', () => {
    const result = parseRegion('over yonder');
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.error.message).toMatch(
        /I don't know the region "over yonder". Try one of: top\/bottom\/left\/right half/,
      );
    expect(parseRegion('x 50-10% y 0-10%').ok).toBe(false);
    expect(parseRegion('D4').ok).toBe(false);
  });
});

describe('mask uploads', () => {
  it('reads only PNG, JPEG, WebP and GIF: an SVG is refused before any decoder sees it', async () => {
    const { readMask } = await import('../src/pipeline/image.js');
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="white"/></svg>',
    );
    await expect(readMask(svg, { width: 8, height: 8 })).rejects.toThrow(
      'That mask is an SVG, a drawing made of instructions rather than pixels, and I do not open those. Export it as a PNG and send that.',
    );
    const sharp = (await import('sharp')).default;
    for (const format of ['png', 'jpeg', 'webp', 'gif'] as const) {
      const bytes = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ffffff' } })
        .toFormat(format)
        .toBuffer();
      expect((await readMask(bytes, { width: 8, height: 8 })).every((v) => v === 1)).toBe(true);
    }
  });
});
