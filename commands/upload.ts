/**
 * Pictures people bring: an image attached to `imagine` guides the result as img2img, and an image
 * sent with an instruction ("upscale", "make it night") gets that instruction. Either way the upload
 * first becomes an image of the conversation like any result (operation `upload`, lineage "uploaded by
 * …"), so `info`, replies, undo and buttons work on it.
 *
 * Order of checks, cheapest first: where and who (channel, limits, quota, jobs in progress), the
 * stated size, the bytes that arrive, image intake on those bytes (format by signature, declared size,
 * metadata), and only then the decoder.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import { moderateImage, type NsfwReading } from '../src/moderation/classifier.js';
import { coverRgb, encodePng, type RgbImage, readUpload, type UploadFit } from '../src/pipeline/image.js';
import type { PromptParams } from '../src/prompt/params.js';
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, newSeed, truncate, viewOf } from './context.js';
import { generationFrom, readPrompt } from './imagine.js';
import { limitsFor } from './limits.js';
import { understandReply } from './meaning.js';
import { channelPolicy, decideModeration } from './moderation.js';
import { pastedLinkAnswer } from './pasted-links.js';
import { reply } from './reply.js';
import type { Attachment, ChatContext, Reply } from './types.js';
import { say } from './types.js';
import { refusedBeforeReading, uploadBytes } from './upload-bytes.js';

/** Midjourney's default image weight. */
export const DEFAULT_IMAGE_WEIGHT = 1;

/**
 * `--iw` (0–2) as img2img strength: 0.95 − 0.4 × iw. Weight 0 keeps only a trace of the picture
 * (strength 0.95), the default 1 keeps its composition and colours (0.55, a conversational refine's
 * strength), and 2 stays close to it (0.15). `--strength` given as well wins.
 */
export function strengthForImageWeight(weight: number): number {
  return Math.round((0.95 - 0.4 * weight) * 100) / 100;
}

/** An admitted upload: its image record, and a note of what was done to read it. */
interface Admitted {
  readonly image: ImageRecord;
  readonly note: string;
}

/**
 * Fetches, checks, decodes and stores an upload as an image of the conversation, fitted as `fit`
 * (or as `sizeFor` says, given the picture's own upright size). The message that carried it (when the
 * platform names one) is recorded as showing it, so replies to that message act on it.
 */
async function admitUpload(
  deps: CommandDeps,
  ctx: ChatContext,
  upload: Attachment,
  fit: UploadFit,
  sizeFor?: (picture: RgbImage) => { width: number; height: number },
): Promise<Admitted> {
  const refused = refusedBeforeReading(deps, ctx);
  if (refused) throw refused;
  const bytes = await uploadBytes(deps, upload, 'images');
  const read = await readUpload(bytes, fit);
  const target = sizeFor?.(read.image);
  const picture = target ? await coverRgb(read.image, target.width, target.height) : read.image;
  // The one place an upload is admitted: it is moderated here, before anything made from it is posted.
  const reading = deps.moderation ? await moderateImage(deps.moderation, picture) : undefined;
  const file = await deps.files.save('images', await encodePng(picture));
  const uploader = ctx.userName ?? ctx.userId;
  const image = deps.store.insertImage({
    operation: 'upload',
    prompt: '',
    seed: 0,
    steps: 0,
    guidance: 0,
    scheduler: '',
    model: deps.defaultModel,
    width: picture.width,
    height: picture.height,
    filePath: file.relativePath,
    sha256: file.sha256,
    userId: ctx.userId,
    extra: {
      uploadedBy: uploader,
      name: upload.name.slice(0, 200),
      format: read.facts.format,
      ...(read.facts.animated ? { animated: true } : {}),
    },
  });
  if (reading) moderateUpload(deps, ctx, image, reading);
  if (ctx.messageId)
    deps.store.recordChatMessage({
      platform: ctx.platform,
      channelId: ctx.channelId,
      messageId: ctx.messageId,
      imageId: image.id,
      ...(ctx.threadId ? { threadId: ctx.threadId } : {}),
    });
  const animated = read.facts.animated ? ' (an animation: I used its first frame)' : '';
  const resized =
    picture.width !== read.image.width || picture.height !== read.image.height
      ? `, used at ${picture.width}×${picture.height}`
      : '';
  return { image, note: `uploaded by ${uploader} as #${image.id}${animated}${resized}` };
}

/** What the uploader is told when the channel's image filter blocks their picture. */
export const UPLOAD_HELD_BACK =
  "Your image was held back by this channel's image filter, so I did not use it. An admin can see it.";

/**
 * Records the classifier's reading of an upload and the channel policy's decision. A blocked upload is
 * kept, marked, for admins, and goes no further: its owner is told (privately, as every refusal is).
 */
function moderateUpload(deps: CommandDeps, ctx: ChatContext, image: ImageRecord, reading: NsfwReading): void {
  const policy = channelPolicy(deps.store, ctx.channelId);
  const action = decideModeration(reading.score, policy);
  deps.store.moderation.recordScore(image.id, reading);
  deps.store.moderation.recordDecision(image.id, action, policy.threshold);
  if (action === 'block') throw new UserError(ErrorCode.ImageInvalid, UPLOAD_HELD_BACK);
}

/**
 * `imagine` with an image attached: img2img from the upload with `--iw` as strength, at the upload's
 * aspect ratio unless `--ar` (or `--size`) says otherwise.
 */
export async function imagineFromUpload(
  deps: CommandDeps,
  ctx: ChatContext,
  text: string,
  upload: Attachment,
): Promise<Reply> {
  const link = pastedLinkAnswer(text);
  if (link) return link;
  const parsed = readPrompt(deps, text, true);
  if (!parsed.ok) return say(parsed.error.message);
  const params = parsed.value;
  const unused = imagineOnlyFlags(params);
  if (unused)
    return say(`With an image attached, ${unused} cannot be used: they shape a grid made from noise.`);
  const spec = deps.models.get(params.model ?? deps.defaultModel);
  const { maxSide } = limitsFor(deps, ctx);
  const sizeOf = (picture: RgbImage) => generationSize(deps, ctx, params, picture);
  try {
    // Refused before anything is fetched: a flag the model cannot take, a style it does not have.
    generationSize(deps, ctx, params, spec.nativeSize);
  } catch (error) {
    return say((error as Error).message);
  }
  const { image, note } = await admitUpload(deps, ctx, upload, { maxSide }, sizeOf);
  const generation = generationFrom(deps, ctx, withSize(params, image), params.seed ?? newSeed());
  const weight = params.imageWeight ?? DEFAULT_IMAGE_WEIGHT;
  const strength = params.strength ?? strengthForImageWeight(weight);
  const prompt = generation.prompt;
  const count = generation.n === 1 ? '1 image' : `${generation.n} images`;
  const how = params.strength !== undefined ? '--strength' : `--iw ${weight}`;
  const explanation = `Imagined from your image: "${truncate(prompt, 200)}" · ${count} · ${image.width}×${image.height} · img2img ${strength} (${how}) · seed ${generation.seed} · ${note}`;
  return enqueue(deps, ctx, {
    kind: 'variation',
    params: {
      parentId: image.id,
      prompt,
      negativePrompt: generation.negativePrompt,
      seed: generation.seed,
      strength,
      steps: generation.steps,
      guidance: generation.guidance,
      n: generation.n,
      model: generation.model,
      ...(generation.scheduler ? { scheduler: generation.scheduler } : {}),
      explanation,
    },
  });
}

/** The flags of a text-to-image grid that an img2img from a picture has no use for, named; or undefined. */
function imagineOnlyFlags(params: PromptParams): string | undefined {
  const named = [
    ...(params.tile ? ['--tile'] : []),
    ...(params.repeat !== undefined ? ['--repeat'] : []),
    ...(params.chaos !== undefined ? ['--chaos'] : []),
  ];
  return named.length > 0 ? named.join(' and ') : undefined;
}

/** True when words read as a prompt for a new picture rather than an edit of the upload. */
async function describesAPicture(deps: CommandDeps, text: string): Promise<boolean> {
  if (!text.trim()) return false;
  if (/(^|\s)--\w/.test(text)) return true;
  return (await understandReply(text, deps.meaning, 'unaimed')).newPrompt;
}

/** The size a generation from `picture` is made at: `--ar`/`--size` when given, else the picture's ratio. */
function generationSize(
  deps: CommandDeps,
  ctx: ChatContext,
  params: PromptParams,
  picture: { width: number; height: number },
): { width: number; height: number } {
  const { width, height } = generationFrom(deps, ctx, withSize(params, picture), 0);
  return { width, height };
}

/** The prompt's parameters with the picture's aspect ratio, unless `--ar` or `--size` chose one. */
function withSize(params: PromptParams, picture: { width: number; height: number }): PromptParams {
  if (params.aspectRatio || params.size) return params;
  return { ...params, aspectRatio: { width: picture.width, height: picture.height } };
}

/**
 * A message holding an image and words (a mention of flowbot with a file, a reply to someone's posted
 * picture, a playground upload): the upload becomes an image of the conversation. Words that describe
 * a picture (or carry flags, `--iw`, `--ar`) imagine from it, as `imagine` with the image attached
 * does; an instruction ("upscale", "make it night") is carried out on it as a reply to it would be.
 * With no words it is shown back with the buttons every result has.
 */
export async function uploadWithInstruction(
  deps: CommandDeps,
  ctx: ChatContext,
  text: string,
  upload: Attachment,
): Promise<Reply | Reply[]> {
  const link = pastedLinkAnswer(text);
  if (link) return link;
  const messageId = ctx.messageId ?? `upload-${newSeed()}`;
  const carried = { ...ctx, messageId };
  if (await describesAPicture(deps, text)) return imagineFromUpload(deps, carried, text, upload);
  // Kept at its own size (up to the largest side flowbot makes), so "upscale" enlarges the real thing.
  const { image, note } = await admitUpload(deps, carried, upload, { maxSide: limitsFor(deps, ctx).maxSide });
  // With no words it is shown back with the buttons every result has, and a hint of what to say.
  if (!text.trim())
    return {
      type: 'image',
      view: viewOf(
        deps,
        image,
        `Got it: your image is ${note} (${image.width}×${image.height}). Use the buttons, or reply with what to do: "upscale", "zoom out", "make it night", "in the top left: a moon", "black and white".`,
        ctx.platform,
      ),
    };
  return reply(deps, carried, text, { channelId: ctx.channelId, messageId });
}
