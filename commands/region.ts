/** Vary region: repaint part of an image, from region words, grid cells, a rectangle, an uploaded or drawn mask. */
import { ErrorCode, UserError } from '../src/errors.js';
import { parseRegion, regionMask } from '../src/masks/regions.js';
import { encodePng, readMask } from '../src/pipeline/image.js';
import type { ImageRecord, MaskRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, newSeed, truncate } from './context.js';
import { limitsFor } from './limits.js';
import type { Attachment, ChatContext, Reply } from './types.js';

/** Stores a mask (thresholded at one half) as a PNG and records it. */
export async function saveMask(
  deps: CommandDeps,
  values: Float32Array,
  width: number,
  height: number,
  source: MaskRecord['source'],
  spec: string,
  userId: string,
): Promise<MaskRecord> {
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0; i < values.length; i++) pixels.fill(values[i]! >= 0.5 ? 255 : 0, 3 * i, 3 * i + 3);
  const file = await deps.files.save('masks', await encodePng({ width, height, pixels }));
  return deps.store.insertMask({
    source,
    spec,
    filePath: file.relativePath,
    sha256: file.sha256,
    width,
    height,
    userId,
  });
}

/** A mask from region words (halves, thirds, quadrants, centre, border, cells A1–C3, percent rectangles). */
export async function maskFromWords(
  deps: CommandDeps,
  image: ImageRecord,
  words: string,
  userId: string,
): Promise<MaskRecord> {
  const region = parseRegion(words);
  if (!region.ok) throw region.error;
  return saveMask(
    deps,
    regionMask(region.value, image.width, image.height),
    image.width,
    image.height,
    region.value.source,
    region.value.spec,
    userId,
  );
}

/** A mask from an uploaded image: validated, size-limited and resized to the image. */
export async function maskFromUpload(
  deps: CommandDeps,
  image: ImageRecord,
  upload: Attachment,
  userId: string,
  source: 'upload' | 'drawing' = 'upload',
): Promise<MaskRecord> {
  const limitMB = limitsFor(deps).maxUploadMB;
  if (
    upload.size > limitMB * 1024 * 1024 ||
    (upload.bytes && upload.bytes.byteLength > limitMB * 1024 * 1024)
  ) {
    throw new UserError(
      ErrorCode.ImageInvalid,
      `That file is ${(upload.size / 1024 / 1024).toFixed(1)} MB; masks can be at most ${limitMB} MB.`,
    );
  }
  if (!upload.bytes)
    throw new UserError(ErrorCode.ImageInvalid, 'I could not download that file; please try again.');
  const values = await readMask(Buffer.from(upload.bytes), { width: image.width, height: image.height });
  if (!values.some((v) => v > 0))
    throw new UserError(
      ErrorCode.ImageInvalid,
      'That mask is empty: paint the area to change in white (or opaque).',
    );
  return saveMask(deps, values, image.width, image.height, source, upload.name.slice(0, 200), userId);
}

/** Queues an inpaint of `image` inside `mask` with `prompt`. */
export function inpaint(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  mask: MaskRecord,
  prompt: string,
  how: string,
): Reply {
  const seed = newSeed();
  const text = prompt.trim() || image.prompt;
  const explanation = `${how}: "${truncate(text, 200)}" in ${mask.source === 'drawing' || mask.source === 'upload' ? `the ${mask.source === 'drawing' ? 'drawn' : 'uploaded'} mask` : `the ${mask.spec}`} · inpaint · seed ${seed} · from #${image.id}`;
  return enqueue(deps, ctx, {
    kind: 'inpaint',
    params: {
      parentId: image.id,
      maskId: mask.id,
      prompt: text,
      negativePrompt: image.negativePrompt,
      seed,
      steps: image.steps,
      guidance: image.guidance,
      model: image.model,
      explanation,
    },
  });
}

/** The mask an image (or its ancestors) was last inpainted with, for "same mask". */
export function lastMask(deps: CommandDeps, image: ImageRecord): MaskRecord | undefined {
  for (const ancestor of deps.store.lineage(image.id)) {
    if (ancestor.maskId) return deps.store.getMask(ancestor.maskId);
  }
  return undefined;
}
