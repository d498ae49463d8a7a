/**
 * The pictures people upload, made here with sharp: the awkward ones (CMYK, 16-bit, alpha, EXIF
 * orientation, animations, a wrong extension) and the refused ones (SVG).
 */
import sharp, { type Sharp } from 'sharp';

/** A `width`×`height` picture: left half red, right half blue, so orientation and crops show. */
export function halves(width = 96, height = 64): Sharp {
  const half = Math.floor(width / 2);
  return sharp({ create: { width, height, channels: 3, background: '#0000ff' } }).composite([
    {
      input: { create: { width: half, height, channels: 3, background: '#ff0000' } },
      left: 0,
      top: 0,
    },
  ]);
}

/** A plain PNG upload of {@link halves}. */
export async function photoPng(width = 96, height = 64): Promise<Buffer> {
  return sharp(await halves(width, height).png().toBuffer())
    .png()
    .toBuffer();
}

/** The same as a JPEG. */
export async function photoJpeg(width = 96, height = 64): Promise<Buffer> {
  return sharp(await halves(width, height).png().toBuffer())
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** A CMYK JPEG (as print workflows save them). */
export async function cmykJpeg(): Promise<Buffer> {
  return sharp(await photoPng())
    .toColourspace('cmyk')
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** A 16-bit-per-channel PNG. */
export async function sixteenBitPng(): Promise<Buffer> {
  return sharp(await photoPng())
    .toColourspace('rgb16')
    .png()
    .toBuffer();
}

/** A PNG whose left half is fully transparent (black underneath) and whose right half is opaque blue. */
export async function transparentPng(): Promise<Buffer> {
  const pixels = Buffer.alloc(96 * 64 * 4);
  for (let i = 0; i < 96 * 64; i++) {
    const right = i % 96 >= 48;
    pixels.set(right ? [0, 0, 255, 255] : [0, 0, 0, 0], 4 * i);
  }
  return sharp(pixels, { raw: { width: 96, height: 64, channels: 4 } })
    .png()
    .toBuffer();
}

/** A JPEG stored sideways with EXIF orientation 6 (rotate 90° clockwise to show), as phones save it. */
export async function sidewaysJpeg(): Promise<Buffer> {
  // Stored 64 wide × 96 high; shown upright it is 96 × 64.
  return sharp(await photoPng())
    .rotate(-90)
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

/** An animated GIF of two frames: red, then blue. */
export async function animatedGif(): Promise<Buffer> {
  const frame = (colour: string) =>
    sharp({ create: { width: 48, height: 32, channels: 3, background: colour } })
      .png()
      .toBuffer();
  return sharp([await frame('#ff0000'), await frame('#0000ff')], { join: { animated: true } })
    .gif()
    .toBuffer();
}

/** A small SVG drawing. */
export function svgDrawing(): Buffer {
  return Buffer.from(
    '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>',
  );
}
