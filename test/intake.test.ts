/**
 * Image intake on its own: what real encoders write is admitted with the size its header declares,
 * and each way of making a small file cost a decoder much (inflating metadata, huge declared sizes,
 * endless scans, broken structure, other formats) is refused with a friendly message before any
 * decoder sees the bytes.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { admitImage, DEFAULT_INTAKE_LIMITS, ImageRefused, inspectImage } from '../src/intake/inspect.js';
import { encodePng, readMask } from '../src/pipeline/image.js';
import { pngText } from '../src/pipeline/recipe.js';
import { deflatedRun, plainPng, pngChunk, textBombPng, withChunks, zTXt } from './helpers/hostile-images.js';
import { gradient } from './helpers/images.js';
import { tempDir } from './helpers/tmp.js';

/** The refusal `inspectImage` throws for `bytes`, or undefined when it admits them. */
function refusal(bytes: Buffer, limits = DEFAULT_INTAKE_LIMITS): ImageRefused | undefined {
  try {
    inspectImage(bytes, 'mask', limits);
    return undefined;
  } catch (error) {
    if (error instanceof ImageRefused) return error;
    throw error;
  }
}

const picture = (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp({ create: { width, height, channels, background: { r: 200, g: 40, b: 90, alpha: 0.5 } } });

/** A compressed iTXt chunk: keyword, NUL, flag 1, method 0, empty language and translation, text. */
const compressedITXt = (keyword: string, deflated: Buffer) =>
  pngChunk('iTXt', Buffer.concat([Buffer.from(`${keyword}\0\x01\0\0\0`, 'latin1'), deflated]));
const iCCP = (deflated: Buffer) =>
  pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), deflated]));
const tEXt = (keyword: string, text: string) =>
  pngChunk('tEXt', Buffer.from(`${keyword}\0${text}`, 'latin1'));

describe('image intake admits what encoders write', () => {
  it('PNG, JPEG and WebP in their common variants, with the size their header declares', async () => {
    const variants: [Promise<Buffer>, string][] = [
      [picture(300, 200).png().toBuffer(), 'png'],
      [picture(300, 200, 4).png({ palette: true }).toBuffer(), 'png'],
      [picture(300, 200).png({ progressive: true }).toColourspace('rgb16').toBuffer(), 'png'],
      [picture(300, 200).withIccProfile('p3').png().toBuffer(), 'png'],
      [picture(300, 200).jpeg().toBuffer(), 'jpeg'],
      [picture(300, 200).jpeg({ progressive: true }).toBuffer(), 'jpeg'],
      [
        picture(300, 200)
          .withMetadata({ exif: { IFD0: { Copyright: 'me' } } })
          .withIccProfile('p3')
          .jpeg()
          .toBuffer(),
        'jpeg',
      ],
      [picture(300, 200).webp().toBuffer(), 'webp'],
      [picture(300, 200, 4).webp({ lossless: true }).toBuffer(), 'webp'],
      [picture(300, 200, 4).withIccProfile('p3').webp().toBuffer(), 'webp'],
    ];
    for (const [bytes, format] of variants)
      expect(inspectImage(await bytes)).toEqual({ format, width: 300, height: 200 });
  });

  it("flowbot's own PNGs, whose recipe chunks hold both prompts at the wire's 8000 characters", async () => {
    // The worst case: JSON writes each control character as six bytes.
    const prompt = '\u0001'.repeat(8000);
    const recipe = pngText({
      prompt,
      negativePrompt: prompt,
      seed: 1,
      steps: 8,
      guidance: 4,
      scheduler: 'euler',
      model: 'm',
      width: 8,
      height: 8,
      operation: 'generate',
    });
    expect(inspectImage(await encodePng(gradient(8, 8), recipe))).toEqual({
      format: 'png',
      width: 8,
      height: 8,
    });
  });

  it('metadata within the limits: small compressed text and a colour profile', async () => {
    const png = withChunks(await plainPng(), [
      zTXt('Comment', deflateSync(Buffer.from('made in an editor'))),
      compressedITXt('XML:com.adobe.xmp', deflateSync(Buffer.alloc(8000, 0x20))),
      iCCP(deflatedRun(0.5)),
    ]);
    expect(refusal(png)).toBeUndefined();
  });
});

describe('image intake refuses, before any decoder sees the bytes', () => {
  it("the review's PNG: 20 zTXt chunks of 49 MB each, in about 1 MB", async () => {
    const bomb = await textBombPng();
    expect(bomb.length).toBeLessThan(1.1e6);
    expect(refusal(bomb)).toMatchObject({ reason: 'text_size', details: { chunk: 'zTXt' } });
    await expect(readMask(bomb, { width: 8, height: 8 })).rejects.toThrow(
      /That mask carries more hidden metadata .* Export it again without metadata/,
    );
  });

  it('compressed iTXt, a colour profile and the file total that inflate past their limits', async () => {
    const png = await plainPng();
    const fullText = deflatedRun(DEFAULT_INTAKE_LIMITS.maxTextBytes / 1024 / 1024);
    expect(refusal(withChunks(png, [compressedITXt('XML', deflatedRun(1))]))).toMatchObject({
      reason: 'text_size',
    });
    expect(refusal(withChunks(png, [iCCP(deflatedRun(2))]))).toMatchObject({ reason: 'profile_size' });
    const many = Array.from({ length: 63 }, (_, i) => zTXt(`k${i}`, fullText));
    expect(refusal(withChunks(png, [iCCP(deflatedRun(1)), ...many]))).toMatchObject({
      reason: 'inflated_total',
    });
  });

  it('too many text chunks, or one stored text larger than the limit', async () => {
    const png = await plainPng();
    const chunks = Array.from({ length: 65 }, (_, i) => tEXt(`k${i}`, 'x'));
    expect(refusal(withChunks(png, chunks))).toMatchObject({ reason: 'text_chunks' });
    expect(
      refusal(withChunks(png, [tEXt('Comment', 'x'.repeat(DEFAULT_INTAKE_LIMITS.maxTextBytes + 1))])),
    ).toMatchObject({
      reason: 'text_size',
    });
  });

  it('text chunks that are malformed or do not inflate', async () => {
    const png = await plainPng();
    expect(refusal(withChunks(png, [pngChunk('tEXt', Buffer.from('no keyword end'))]))).toMatchObject({
      reason: 'damaged',
    });
    expect(refusal(withChunks(png, [zTXt('Comment', Buffer.from('not deflate'))]))).toMatchObject({
      reason: 'damaged',
    });
  });

  it('a declared size beyond 4096×4096 pixels, in each format', async () => {
    const png = await plainPng();
    const huge = Buffer.from(png);
    huge.writeUInt32BE(100_000, 16);
    huge.writeUInt32BE(100_000, 20);
    expect(refusal(huge)).toMatchObject({
      reason: 'dimensions',
      message: expect.stringContaining('100000×100000'),
    });
    const jpeg = await picture(16, 16).jpeg().toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    jpeg.writeUInt16BE(5000, sof + 5);
    jpeg.writeUInt16BE(5000, sof + 7);
    expect(refusal(jpeg)).toMatchObject({ reason: 'dimensions' });
    const webp = await picture(16, 16, 4).withIccProfile('p3').webp().toBuffer();
    webp.writeUIntLE(4999, 12 + 8 + 4, 3);
    webp.writeUIntLE(4999, 12 + 8 + 7, 3);
    expect(refusal(webp)).toMatchObject({
      reason: 'dimensions',
      message: expect.stringContaining('5000×5000'),
    });
  });

  it('a JPEG of more scans than any encoder writes', async () => {
    const jpeg = await picture(16, 16).jpeg().toBuffer();
    const scans = Buffer.concat(Array.from({ length: 101 }, () => Buffer.from([0xff, 0xda, 0x00, 0x02])));
    const endless = Buffer.concat([jpeg.subarray(0, -2), scans, jpeg.subarray(-2)]);
    expect(refusal(endless)).toMatchObject({ reason: 'scans' });
  });

  it('files cut short or out of structure', async () => {
    const png = await picture(64, 64).png().toBuffer();
    expect(refusal(png.subarray(0, png.length - 20))).toMatchObject({ reason: 'damaged' });
    const jpeg = await picture(64, 64).jpeg().toBuffer();
    expect(refusal(jpeg.subarray(0, 100))).toMatchObject({ reason: 'damaged' });
    const webp = await picture(64, 64).webp().toBuffer();
    expect(refusal(webp.subarray(0, webp.length - 10))).toMatchObject({ reason: 'damaged' });
  });

  it('other formats, however well formed, and SVG by name', async () => {
    expect(refusal(await picture(8, 8).tiff().toBuffer())).toMatchObject({
      reason: 'format',
      message: 'That mask is not an image I can read: send a PNG, JPEG, WebP or GIF.',
    });
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>');
    expect(refusal(svg)).toMatchObject({
      reason: 'svg',
      message:
        'That mask is an SVG, a drawing made of instructions rather than pixels, and I do not open those. Export it as a PNG and send that.',
    });
    // A GIF is read (its first frame), with its size from the header.
    expect(inspectImage(await picture(8, 6).gif().toBuffer())).toEqual({
      format: 'gif',
      width: 8,
      height: 6,
    });
  });

  it('a file larger than the limit without reading it, and a file that is not there', async () => {
    const t = tempDir();
    try {
      const file = path.join(t.dir, 'big.png');
      writeFileSync(file, await picture(64, 64).png().toBuffer());
      const small = { ...DEFAULT_INTAKE_LIMITS, maxFileBytes: 100 };
      await expect(admitImage(file, 'file', small)).rejects.toMatchObject({
        details: { reason: 'file_size' },
      });
      expect((await admitImage(file)).facts).toEqual({ format: 'png', width: 64, height: 64 });
      await expect(admitImage(path.join(t.dir, 'missing.png'))).rejects.toThrow(
        'I could not open that image.',
      );
    } finally {
      t.cleanup();
    }
  });
});
