/**
 * A PNG's chunks, walked before any decoder sees the file: the header's size, a chunk structure that
 * holds together up to IEND, and metadata that stays small. libpng (through sharp) inflates every
 * compressed text chunk (zTXt, compressed iTXt) up to 50 MB each with no total, and the colour profile
 * (iCCP); here each is inflated with a cap instead, so refusing one costs at most the cap.
 */
import { inflateSync } from 'node:zlib';
import { type ImageFacts, type IntakeLimits, type RefusalReason, refuse } from './limits.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const TEXT_CHUNKS = new Set(['tEXt', 'zTXt', 'iTXt']);

/** One chunk: its type and its data's place in the file. */
interface Chunk {
  readonly type: string;
  readonly data: Buffer;
  /** Offset of the next chunk. */
  readonly next: number;
}

/** True when the bytes start with the PNG signature. */
export function isPng(bytes: Buffer): boolean {
  return bytes.subarray(0, 8).equals(SIGNATURE);
}

/** The chunk at `offset`, or undefined when it runs past the end of the file. */
function chunkAt(bytes: Buffer, offset: number): Chunk | undefined {
  if (offset + 12 > bytes.length) return undefined;
  const length = bytes.readUInt32BE(offset);
  const end = offset + 12 + length;
  if (end > bytes.length) return undefined;
  return {
    type: bytes.toString('latin1', offset + 4, offset + 8),
    data: bytes.subarray(offset + 8, offset + 8 + length),
    next: end,
  };
}

/** Counts what the metadata of one file costs, refusing as soon as a limit is passed. */
class MetadataBudget {
  private textChunks = 0;
  private inflated = 0;

  constructor(
    private readonly what: string,
    private readonly limits: IntakeLimits,
  ) {}

  /** A text chunk: at most so many, each within the text limit (stored or inflated). */
  text(chunk: Chunk): void {
    if (++this.textChunks > this.limits.maxTextChunks)
      this.refuse('text_chunks', chunk, { count: this.textChunks });
    const text = textOf(chunk);
    if (text === undefined) throw refuse.damaged(this.what, 'png', `${chunk.type} chunk without a keyword`);
    if (text.compressed) this.inflate(chunk, text.bytes, this.limits.maxTextBytes, 'text_size');
    else if (text.bytes.length > this.limits.maxTextBytes)
      this.refuse('text_size', chunk, { bytes: text.bytes.length });
  }

  /** The colour profile: keyword, NUL, compression method, then the deflated profile. */
  profile(chunk: Chunk): void {
    const nul = chunk.data.indexOf(0);
    if (nul < 1 || nul > 79) throw refuse.damaged(this.what, 'png', 'iCCP chunk without a name');
    this.inflate(chunk, chunk.data.subarray(nul + 2), this.limits.maxProfileBytes, 'profile_size');
  }

  /** Inflates at most `cap` bytes (and no more than the file's total allows). */
  private inflate(chunk: Chunk, deflated: Buffer, cap: number, reason: RefusalReason): void {
    const left = this.limits.maxInflatedBytes - this.inflated;
    const limit = Math.min(cap, left);
    let size: number;
    try {
      size = inflateSync(deflated, { maxOutputLength: limit + 1 }).length;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE')
        throw refuse.damaged(this.what, 'png', `${chunk.type} chunk does not inflate`);
      size = limit + 1;
    }
    if (size > limit) this.refuse(cap <= left ? reason : 'inflated_total', chunk, { inflatesPast: limit });
    this.inflated += size;
  }

  private refuse(reason: RefusalReason, chunk: Chunk, details: Record<string, unknown>): never {
    throw refuse.metadata(this.what, reason, { chunk: chunk.type, ...details });
  }
}

/**
 * The text of a tEXt, zTXt or iTXt chunk, after its keyword and (for iTXt) language tags; undefined
 * when the chunk is malformed.
 */
function textOf(chunk: Chunk): { bytes: Buffer; compressed: boolean } | undefined {
  const { data } = chunk;
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) return undefined;
  if (chunk.type === 'tEXt') return { bytes: data.subarray(nul + 1), compressed: false };
  if (chunk.type === 'zTXt') return { bytes: data.subarray(nul + 2), compressed: true };
  // iTXt: compression flag, method, language tag NUL, translated keyword NUL, text.
  const compressed = data[nul + 1] === 1;
  const language = data.indexOf(0, nul + 3);
  const translated = language === -1 ? -1 : data.indexOf(0, language + 1);
  if (translated === -1) return undefined;
  return { bytes: data.subarray(translated + 1), compressed };
}

/** Checks a PNG's header and chunks against the limits; throws a friendly refusal. */
export function inspectPng(bytes: Buffer, what: string, limits: IntakeLimits): ImageFacts {
  const header = chunkAt(bytes, 8);
  if (header?.type !== 'IHDR' || header.data.length !== 13)
    throw refuse.damaged(what, 'png', 'no IHDR chunk first');
  const width = header.data.readUInt32BE(0);
  const height = header.data.readUInt32BE(4);
  if (width === 0 || height === 0) throw refuse.damaged(what, 'png', 'zero width or height');
  if (width * height > limits.maxPixels) throw refuse.dimensions(what, width, height, limits);
  const budget = new MetadataBudget(what, limits);
  let animated = false;
  for (let chunk: Chunk | undefined = header; chunk; chunk = chunkAt(bytes, chunk.next)) {
    if (chunk.type === 'IEND') return { format: 'png', width, height, ...(animated ? { animated } : {}) };
    // An APNG's animation control chunk; decoders show the default image, the first frame.
    if (chunk.type === 'acTL') animated = true;
    else if (TEXT_CHUNKS.has(chunk.type)) budget.text(chunk);
    else if (chunk.type === 'iCCP') budget.profile(chunk);
  }
  throw refuse.damaged(what, 'png', 'chunks run past the end of the file before IEND');
}
