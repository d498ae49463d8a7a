/** Vary region: repaint part of an image, from region words, grid cells, a rectangle, an uploaded or drawn mask. */
import { ErrorCode, UserError } from '../src/errors.js';
import { parseRegion, regionMask } from '../src/masks/regions.js';
import { encodePng, readMask } from '../src/pipeline/image.js';
import type { ImageRecord, MaskRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, newSeed, truncate } from './context.js';
import type { Attachment, ChatContext, Reply } from './types.js';
import { refusedBeforeReading, uploadBytes } from './upload-bytes.js';

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

/**
 * A mask from an uploaded image, resized to the image. The cheap checks come first (where, who, how
 * large); only then is it fetched, inspected by image intake (format, size, metadata) and decoded.
 */
export async function maskFromUpload(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  upload: Attachment,
  source: 'upload' | 'drawing' = 'upload',
): Promise<MaskRecord> {
  const refused = refusedBeforeReading(deps, ctx);
  if (refused) throw refused;
  const bytes = await uploadBytes(deps, upload, 'masks');
  const values = await readMask(bytes, { width: image.width, height: image.height });
  if (!values.some((v) => v > 0))
    throw new UserError(
      ErrorCode.ImageInvalid,
      'That mask is empty: paint the area to change in white (or opaque).',
    );
  return saveMask(deps, values, image.width, image.height, source, upload.name.slice(0, 200), ctx.userId);
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
