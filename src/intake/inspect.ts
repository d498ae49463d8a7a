/**
 * Image intake: the one check every image passes before a decoder sees its bytes — masks from chat and
 * the mask editor, the CLI's input files, the parent images and masks a worker receives through Redis,
 * stored images read back. It sniffs the format by signature (PNG, JPEG, WebP and GIF only; never by the file's name), refuses SVG by name, reads the
 * declared size from the header, and walks the file's structure so that metadata a decoder would
 * inflate stays within {@link DEFAULT_INTAKE_LIMITS}. It decodes no pixels, so a refusal costs
 * microseconds to a few milliseconds and at most a few MB.
 */
import { readFile, stat } from 'node:fs/promises';
import { createLogger } from '../log.js';
import { inspectGif, isGif } from './gif.js';
import { inspectJpeg, isJpeg } from './jpeg.js';
import { DEFAULT_INTAKE_LIMITS, type ImageFacts, ImageRefused, type IntakeLimits, refuse } from './limits.js';
import { inspectPng, isPng } from './png.js';
import { inspectWebp, isWebp } from './webp.js';

export type { ImageFacts, ImageFormat, IntakeLimits } from './limits.js';
export { DEFAULT_INTAKE_LIMITS, ImageRefused, MAX_INPUT_PIXELS } from './limits.js';

const log = createLogger('intake');

/**
 * Checks an encoded image without decoding it: its format, its declared size and its metadata.
 * Throws an {@link ImageRefused} (a UserError whose message names `what` was sent) otherwise.
 */
export function inspectImage(bytes: Buffer, what = 'image', limits = DEFAULT_INTAKE_LIMITS): ImageFacts {
  if (isPng(bytes)) return inspectPng(bytes, what, limits);
  if (isJpeg(bytes)) return inspectJpeg(bytes, what, limits);
  if (isWebp(bytes)) return inspectWebp(bytes, what, limits);
  if (isGif(bytes)) return inspectGif(bytes, what, limits);
  if (looksLikeSvg(bytes)) throw refuse.svg(what);
  throw refuse.format(what);
}

/**
 * True when the bytes read as an SVG document: markup (after an optional byte-order mark and white
 * space) with an `<svg` element near its start. Only the first 4 KB are looked at.
 */
function looksLikeSvg(bytes: Buffer): boolean {
  const head = bytes
    .subarray(0, 4096)
    .toString('utf8')
    .replace(/^\uFEFF?\s*/, '');
  return head.startsWith('<') && /<svg[\s>]/i.test(head);
}

/** A file's bytes, read only when its size is within the limit. */
async function readWithin(file: string, what: string, limits: IntakeLimits): Promise<Buffer> {
  const size = await stat(file).then(
    (found) => (found.isFile() ? found.size : undefined),
    () => undefined,
  );
  if (size === undefined) throw refuse.unreadable(what);
  if (size > limits.maxFileBytes) throw refuse.fileSize(what, size, limits);
  return readFile(file).catch(() => {
    throw refuse.unreadable(what);
  });
}

/**
 * The bytes of an image (given, or read from a file) once {@link inspectImage} admits them, with what
 * their header declares: what a decoder may then be given. Refusals are logged with their reason.
 */
export async function admitImage(
  input: Buffer | string,
  what = 'image',
  limits = DEFAULT_INTAKE_LIMITS,
): Promise<{ bytes: Buffer; facts: ImageFacts }> {
  try {
    const bytes = typeof input === 'string' ? await readWithin(input, what, limits) : input;
    return { bytes, facts: inspectImage(bytes, what, limits) };
  } catch (error) {
    if (error instanceof ImageRefused) log.info('image refused before decoding', { what, ...error.details });
    throw error;
  }
}
