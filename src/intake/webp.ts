/**
 * A WebP's RIFF chunks, walked before any decoder sees the file: the canvas size and a chunk structure
 * that holds together. WebP metadata needs no inflating: the ICCP, EXIF and XMP chunks are stored as
 * they are, so what they cost is bounded by the file's size (the ALPH chunk is compressed pixels, which
 * the canvas size bounds).
 */
import { type ImageFacts, type IntakeLimits, refuse } from './limits.js';

/** True when the bytes start with a RIFF header of type WEBP. */
export function isWebp(bytes: Buffer): boolean {
  return bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP';
}

/** The width and height the first chunk declares, or undefined when it is not an image chunk. */
function declaredSize(type: string, data: Buffer): { width: number; height: number } | undefined {
  if (type === 'VP8X' && data.length >= 10)
    return { width: data.readUIntLE(4, 3) + 1, height: data.readUIntLE(7, 3) + 1 };
  if (type === 'VP8L' && data.length >= 5 && data[0] === 0x2f) {
    const bits = data.readUInt32LE(1);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  // Lossy: a 3-byte frame tag, the start code 9D 01 2A, then 14-bit width and height.
  if (type === 'VP8 ' && data.length >= 10 && data[3] === 0x9d && data[4] === 0x01 && data[5] === 0x2a)
    return { width: data.readUInt16LE(6) & 0x3fff, height: data.readUInt16LE(8) & 0x3fff };
  return undefined;
}

/** Checks a WebP's canvas size and chunk structure against the limits; throws a friendly refusal. */
export function inspectWebp(bytes: Buffer, what: string, limits: IntakeLimits): ImageFacts {
  if (bytes.length < 20) throw refuse.damaged(what, 'webp', 'shorter than a header');
  const end = 8 + bytes.readUInt32LE(4);
  if (end > bytes.length) throw refuse.damaged(what, 'webp', 'the RIFF size runs past the end of the file');
  let size: { width: number; height: number } | undefined;
  let animated = false;
  for (let offset = 12; offset < end; ) {
    if (offset + 8 > end) throw refuse.damaged(what, 'webp', 'a chunk header runs past the end');
    const length = bytes.readUInt32LE(offset + 4);
    const next = offset + 8 + length + (length & 1);
    if (offset + 8 + length > end) throw refuse.damaged(what, 'webp', 'a chunk runs past the end');
    if (offset === 12) {
      size = declaredSize(bytes.toString('latin1', offset, offset + 4), bytes.subarray(offset + 8, next));
      if (!size) throw refuse.damaged(what, 'webp', 'no image chunk first');
    }
    if (bytes.toString('latin1', offset, offset + 4) === 'ANMF') animated = true;
    offset = next;
  }
  if (!size || size.width === 0 || size.height === 0)
    throw refuse.damaged(what, 'webp', 'no width or height');
  if (size.width * size.height > limits.maxPixels)
    throw refuse.dimensions(what, size.width, size.height, limits);
  return { format: 'webp', ...size, ...(animated ? { animated } : {}) };
}
