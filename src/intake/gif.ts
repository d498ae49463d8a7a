/**
 * A GIF's blocks, walked before any decoder sees the file: the logical screen's size, each frame's
 * size, and whether there is more than one frame (an animation, of which flowbot reads the first).
 * GIF metadata needs no inflating: comment and application extensions are stored as they are, so what
 * they cost is bounded by the file's size; LZW frame data decodes to at most the frame's pixels.
 */
import { type ImageFacts, type IntakeLimits, refuse } from './limits.js';

const EXTENSION = 0x21;
const IMAGE_DESCRIPTOR = 0x2c;
const TRAILER = 0x3b;

/** True when the bytes start with a GIF87a or GIF89a header. */
export function isGif(bytes: Buffer): boolean {
  const header = bytes.toString('latin1', 0, 6);
  return header === 'GIF87a' || header === 'GIF89a';
}

/** The offset after a run of data sub-blocks (each a length byte and that many bytes, ending with 0). */
function skipSubBlocks(bytes: Buffer, offset: number, what: string): number {
  let at = offset;
  while (at < bytes.length) {
    const length = bytes[at]!;
    at += 1 + length;
    if (length === 0) return at;
  }
  throw refuse.damaged(what, 'gif', 'a data block runs past the end of the file');
}

/** The offset after a colour table whose presence and size a packed flags byte declares. */
function skipColourTable(flags: number, offset: number): number {
  return flags & 0x80 ? offset + 3 * 2 ** ((flags & 0x07) + 1) : offset;
}

/** Checks a GIF's screen and frame sizes against the limits; throws a friendly refusal. */
export function inspectGif(bytes: Buffer, what: string, limits: IntakeLimits): ImageFacts {
  if (bytes.length < 13) throw refuse.damaged(what, 'gif', 'shorter than a header');
  const width = bytes.readUInt16LE(6);
  const height = bytes.readUInt16LE(8);
  if (width === 0 || height === 0) throw refuse.damaged(what, 'gif', 'zero width or height');
  if (width * height > limits.maxPixels) throw refuse.dimensions(what, width, height, limits);
  let frames = 0;
  let offset = skipColourTable(bytes[10]!, 13);
  while (offset < bytes.length) {
    const block = bytes[offset]!;
    if (block === TRAILER) break;
    if (block === EXTENSION) offset = skipSubBlocks(bytes, offset + 2, what);
    else if (block === IMAGE_DESCRIPTOR) {
      if (offset + 10 > bytes.length) throw refuse.damaged(what, 'gif', 'a frame header runs past the end');
      const frameWidth = bytes.readUInt16LE(offset + 5);
      const frameHeight = bytes.readUInt16LE(offset + 7);
      if (frameWidth * frameHeight > limits.maxPixels)
        throw refuse.dimensions(what, frameWidth, frameHeight, limits);
      frames++;
      // Only whether there is a second frame matters: the decoder is given the first one alone.
      if (frames > 1) break;
      // After the colour table: the LZW minimum code size, then the frame's data sub-blocks.
      offset = skipSubBlocks(bytes, skipColourTable(bytes[offset + 9]!, offset + 10) + 1, what);
    } else throw refuse.damaged(what, 'gif', 'an unknown block');
  }
  if (frames === 0) throw refuse.damaged(what, 'gif', 'no image data');
  return { format: 'gif', width, height, ...(frames > 1 ? { animated: true } : {}) };
}
