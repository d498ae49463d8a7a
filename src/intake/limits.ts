/**
 * What an image that enters flowbot may be, checked on its bytes before any decoder sees them, and the
 * friendly refusals. A decoder's own limits cover pixels only: sharp (libvips with libpng) also inflates
 * every compressed PNG text chunk, up to 50 MB each and without a total, so a 1 MB file could cost
 * gigabytes. Everything here costs at most what the limits below allow.
 */
import { ErrorCode, UserError } from '../errors.js';

/**
 * The raster formats flowbot reads: no SVG (a program, not a picture), no TIFF or HEIF oddities. Of an
 * animation (GIF, APNG, animated WebP) the decoder is given the first frame only.
 */
export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif';

/** What the header of an admitted image declares. */
export interface ImageFacts {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** More than one frame (an animated GIF, APNG or WebP): only the first is read. */
  readonly animated?: boolean;
}

/** The bounds an image must keep to be handed to a decoder. */
export interface IntakeLimits {
  /** Declared width × height (the decoder's memory is proportional to it). */
  readonly maxPixels: number;
  /** A file read from disk (CLI inputs, stored images); uploads have the admin's smaller limit first. */
  readonly maxFileBytes: number;
  /** PNG tEXt, zTXt and iTXt chunks in one file. */
  readonly maxTextChunks: number;
  /**
   * One PNG text chunk's text, as stored or once inflated. flowbot's own recipe chunk holds both prompts
   * as JSON: at the wire's 8000 characters each, and JSON's six bytes for a control character, 96 KB.
   */
  readonly maxTextBytes: number;
  /** A PNG's colour profile (iCCP) once inflated; real RGB profiles are a few KB, rarely a few hundred. */
  readonly maxProfileBytes: number;
  /** Everything a PNG's compressed ancillary chunks inflate to, together. */
  readonly maxInflatedBytes: number;
  /** Scans of a progressive JPEG (each one is a pass over every pixel; encoders write about ten). */
  readonly maxJpegScans: number;
}

/** Largest image flowbot decodes, in pixels (4096 × 4096). */
export const MAX_INPUT_PIXELS = 4096 * 4096;

/** The limits every image read through `src/pipeline/image.ts` is held to. */
export const DEFAULT_INTAKE_LIMITS: IntakeLimits = {
  maxPixels: MAX_INPUT_PIXELS,
  maxFileBytes: 100 * 1024 * 1024,
  maxTextChunks: 64,
  maxTextBytes: 128 * 1024,
  maxProfileBytes: 1024 * 1024,
  maxInflatedBytes: 4 * 1024 * 1024,
  maxJpegScans: 100,
};

/** Why an image was refused, for the log (the person gets the friendly message). */
export type RefusalReason =
  | 'format'
  | 'svg'
  | 'unreadable'
  | 'damaged'
  | 'dimensions'
  | 'file_size'
  | 'text_chunks'
  | 'text_size'
  | 'profile_size'
  | 'inflated_total'
  | 'scans';

/** A refusal of an image, worded for the person who sent it. */
export class ImageRefused extends UserError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(ErrorCode.ImageInvalid, message, { reason, ...details });
    this.name = 'ImageRefused';
  }
}

/** Refusals, each naming what was sent ("mask", "image", "file"). */
export const refuse = {
  format: (what: string) =>
    new ImageRefused('format', `That ${what} is not an image I can read: send a PNG, JPEG, WebP or GIF.`),
  svg: (what: string) =>
    new ImageRefused(
      'svg',
      `That ${what} is an SVG, a drawing made of instructions rather than pixels, and I do not open those. Export it as a PNG and send that.`,
    ),
  unreadable: (what: string) => new ImageRefused('unreadable', `I could not open that ${what}.`),
  damaged: (what: string, format: ImageFormat, problem: string) =>
    new ImageRefused(
      'damaged',
      `That ${what} looks damaged or cut short, so I did not open it. Save it again as a ${format.toUpperCase()} and send it once more.`,
      { problem },
    ),
  dimensions: (what: string, width: number, height: number, limits: IntakeLimits) =>
    new ImageRefused(
      'dimensions',
      `That ${what} is ${width}×${height} pixels; I read images of up to ${(limits.maxPixels / 1e6).toFixed(1)} megapixels (such as ${Math.floor(Math.sqrt(limits.maxPixels))}×${Math.floor(Math.sqrt(limits.maxPixels))}).`,
      { width, height },
    ),
  fileSize: (what: string, bytes: number, limits: IntakeLimits) =>
    new ImageRefused(
      'file_size',
      `That ${what} is ${(bytes / 1024 / 1024).toFixed(1)} MB; I read files of up to ${Math.round(limits.maxFileBytes / 1024 / 1024)} MB.`,
      { bytes },
    ),
  /** Metadata beyond the limits: too many text chunks, or chunks that hold (or inflate to) too much. */
  metadata: (what: string, reason: RefusalReason, details: Record<string, unknown>) =>
    new ImageRefused(
      reason,
      `That ${what} carries more hidden metadata (text or colour-profile data) than I accept, so I did not open it. Export it again without metadata, or take a screenshot of it, and send that.`,
      details,
    ),
  scans: (what: string, limit: number) =>
    new ImageRefused(
      'scans',
      `That ${what} is a progressive JPEG of more than ${limit} passes, far more than any camera or editor writes. Save it again as a normal JPEG or a PNG and send that.`,
      { limit },
    ),
};
