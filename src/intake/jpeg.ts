/**
 * A JPEG's segments, walked before any decoder sees the file: the frame header's size and the number
 * of scans. JPEG metadata needs no inflating: APP segments (EXIF, XMP, ICC) and comments are stored
 * as they are, at most 64 KB each, so what they cost is bounded by the file's size.
 */
import { type ImageFacts, type IntakeLimits, refuse } from './limits.js';

const START_OF_SCAN = 0xda;
const END_OF_IMAGE = 0xd9;
const SOS_MARKER = Buffer.from([0xff, START_OF_SCAN]);

/** True when the bytes start with a JPEG's start-of-image marker. */
export function isJpeg(bytes: Buffer): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Markers that carry no length: fill, TEM, RSTn and SOI. */
function standalone(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8);
}

/** Start-of-frame markers (SOF0–SOF15 but DHT, JPG and DAC, which share the range). */
function startOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * Scans in the file, counted up to `limit + 1`. Entropy-coded data stuffs every 0xFF with a zero, so
 * 0xFF 0xDA only ever appears as a real marker.
 */
function countScans(bytes: Buffer, from: number, limit: number): number {
  let scans = 0;
  for (
    let at = bytes.indexOf(SOS_MARKER, from);
    at !== -1 && scans <= limit;
    at = bytes.indexOf(SOS_MARKER, at + 2)
  )
    scans++;
  return scans;
}

/** Checks a JPEG's frame header and scan count against the limits; throws a friendly refusal. */
export function inspectJpeg(bytes: Buffer, what: string, limits: IntakeLimits): ImageFacts {
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw refuse.damaged(what, 'jpeg', 'segments out of step');
    const marker = bytes[offset + 1]!;
    if (marker === 0xff || standalone(marker)) {
      offset += marker === 0xff ? 1 : 2;
      continue;
    }
    if (marker === START_OF_SCAN || marker === END_OF_IMAGE)
      throw refuse.damaged(what, 'jpeg', 'no frame header before the image data');
    const length = bytes.readUInt16BE(offset + 2);
    if (length < 2 || offset + 2 + length > bytes.length)
      throw refuse.damaged(what, 'jpeg', 'a segment runs past the end of the file');
    if (startOfFrame(marker)) {
      if (length < 8) throw refuse.damaged(what, 'jpeg', 'short frame header');
      const height = bytes.readUInt16BE(offset + 5);
      const width = bytes.readUInt16BE(offset + 7);
      // A height of 0 defers it to a DNL marker after the first scan: legal, but nothing writes it.
      if (width === 0 || height === 0) throw refuse.damaged(what, 'jpeg', 'zero width or height');
      if (width * height > limits.maxPixels) throw refuse.dimensions(what, width, height, limits);
      const scans = countScans(bytes, offset + 2 + length, limits.maxJpegScans);
      if (scans === 0) throw refuse.damaged(what, 'jpeg', 'no image data');
      if (scans > limits.maxJpegScans) throw refuse.scans(what, limits.maxJpegScans);
      return { format: 'jpeg', width, height };
    }
    offset += 2 + length;
  }
  throw refuse.damaged(what, 'jpeg', 'no frame header');
}
