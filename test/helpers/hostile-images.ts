/**
 * Hostile images, built here byte by byte (the security review's files, made small): PNGs whose
 * compressed chunks inflate to far more than the file, and chunk writers for the intake tests.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** One PNG chunk: length, type, data and CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A white `size`² RGB PNG, as sharp writes it. */
export function plainPng(size = 64): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();
}

/** `png` with `chunks` inserted right after its IHDR, where a decoder meets them while reading the header. */
export function withChunks(png: Buffer, chunks: Buffer[]): Buffer {
  const afterHeader = 8 + 12 + 13;
  return Buffer.concat([png.subarray(0, afterHeader), ...chunks, png.subarray(afterHeader)]);
}

/** `megabytes` of one repeated byte, deflated (50 MB deflate to about 50 KB). */
export function deflatedRun(megabytes: number): Buffer {
  return deflateSync(Buffer.alloc(megabytes * 1024 * 1024, 0x41), { level: 9 });
}

/** A zTXt chunk: keyword, NUL, compression method 0, the deflated text. */
export function zTXt(keyword: string, deflated: Buffer): Buffer {
  return pngChunk('zTXt', Buffer.concat([Buffer.from(`${keyword}\0\0`, 'latin1'), deflated]));
}

/**
 * The review's file: a white 64² PNG (a valid mask) carrying 20 zTXt chunks that inflate to 49 MB each
 * (just under the 50 MB libpng is allowed per chunk through sharp), about 1 MB in all.
 */
export async function textBombPng(chunks = 20, megabytes = 49): Promise<Buffer> {
  const payload = deflatedRun(megabytes);
  const bombs = Array.from({ length: chunks }, (_, i) => zTXt(`Comment${i}`, payload));
  return withChunks(await plainPng(), bombs);
}
