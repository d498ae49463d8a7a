/**
 * Replies that edit the prompt's own words or a part of the picture: substitutions ("change the apple
 * to a pear"), attributes ("make the apple green"), weights ("more red", "less busy") and the
 * background ("make the background blue"). Each says in its explanation what it did to the prompt and
 * how (img2img, a region, prompt weighting or a negative term).
 */

import { loadImagePixels } from '../src/jobs.js';
import { analysisSize, backgroundMask, subjectOf } from '../src/masks/background.js';
import { parseRegion } from '../src/masks/regions.js';
import { resizeMask } from '../src/pipeline/masks.js';
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, truncate } from './context.js';
import { exactEdit } from './edit.js';
import { checkRepaint, limitsFor } from './limits.js';
import { inpaint, maskFromWords, saveMask } from './region.js';
import { applyAttribute, nearestWord, rewritePrompt, substitute } from './rewrite.js';
import { type ChatContext, type Reply, say } from './types.js';

/** Strength of a prompt edit that changes what something is (a pear for an apple): more than a refine. */
export const SUBSTITUTE_STRENGTH = 0.7;

/** img2img of an image with an edited prompt (or negative prompt), at its seed. */
export function reimagine(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  edit: { prompt: string; negativePrompt?: string; strength: number; explanation: string },
): Reply {
  return enqueue(deps, ctx, {
    kind: 'variation',
    params: {
      parentId: image.id,
      prompt: edit.prompt,
      negativePrompt: edit.negativePrompt ?? image.negativePrompt,
      seed: image.seed,
      strength: edit.strength,
      steps: image.steps,
      guidance: image.guidance,
      n: 1,
      model: image.model,
      explanation: edit.explanation,
    },
  });
}

/** The friendly answer when a word to change is not in the prompt. */
function notInPrompt(image: ImageRecord, word: string): Reply {
  const near = nearestWord(image.prompt, word);
  return say(
    `"${word}" isn't in the prompt "${truncate(image.prompt, 120)}"${near ? `. Did you mean "${near}"? Try "change the ${near} to …"` : ''}.`,
  );
}

/** "change the apple to a pear": the prompt's word, else a region of that name, else a suggestion. */
export async function substituteWord(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  from: string,
  to: string,
): Promise<Reply> {
  const rewrite = substitute(image.prompt, from, to);
  if (rewrite.ok) {
    return reimagine(deps, ctx, image, {
      prompt: rewrite.prompt,
      strength: SUBSTITUTE_STRENGTH,
      explanation: `Changed "${from}" to "${to}": "${truncate(image.prompt, 90)}" → "${truncate(rewrite.prompt, 90)}" · img2img ${SUBSTITUTE_STRENGTH} · seed ${image.seed} · from #${image.id}`,
    });
  }
  if (parseRegion(from).ok) {
    const mask = await maskFromWords(deps, image, from, ctx.userId);
    return inpaint(deps, ctx, image, mask, to, 'Repainted');
  }
  return notInPrompt(image, from);
}

/** "make the apple green": the attribute goes on the subject's word; the subject is repainted when it stands on a plain backdrop. */
export async function attribute(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  subject: string,
  word: string,
): Promise<Reply> {
  const rewrite = applyAttribute(image.prompt, subject, word);
  if (!rewrite.ok) return notInPrompt(image, subject);
  // Either way the image is repainted: refuse one too large for that before looking at its pixels.
  const refused = checkRepaint(deps, image, limitsFor(deps, ctx));
  if (refused) return say(refused.message);
  const background = await backgroundOf(deps, image);
  if (background.method === 'backdrop') {
    const mask = await storeMask(deps, image, background, subjectOf(background.mask), subject, ctx.userId);
    return inpaint(deps, ctx, image, mask, rewrite.prompt, `Made the ${subject} ${word}`);
  }
  return reimagine(deps, ctx, image, {
    prompt: rewrite.prompt,
    strength: SUBSTITUTE_STRENGTH,
    explanation: `Made the ${subject} ${word}: "${truncate(rewrite.prompt, 160)}" · img2img ${SUBSTITUTE_STRENGTH} · seed ${image.seed} · from #${image.id}`,
  });
}

/** "more red" / "less busy": prompt weighting where the word stands; otherwise appended, or a negative term. */
export function weigh(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  term: string,
  factor: number,
): Reply {
  const change = rewritePrompt(image.prompt, image.negativePrompt, { kind: 'weight', term, factor });
  if (!change?.ok) return say(`I could not weigh "${term}".`);
  const what =
    change.how === 'negative term'
      ? `Less "${term}" (a negative term, since the prompt doesn't say it): avoiding "${truncate(change.negativePrompt, 80)}"`
      : `${factor < 1 ? 'Less' : 'More'} "${term}" (${change.how} ×${factor}): "${truncate(change.prompt, 160)}"`;
  return reimagine(deps, ctx, image, {
    prompt: change.prompt,
    negativePrompt: change.negativePrompt,
    strength: 0.55,
    explanation: `${what} · img2img 0.55 · seed ${image.seed} · from #${image.id}`,
  });
}

/** Plain colours a flat backdrop can be recoloured to exactly. */
const COLOURS: Record<string, readonly [number, number, number]> = {
  white: [255, 255, 255],
  black: [0, 0, 0],
  grey: [128, 128, 128],
  gray: [128, 128, 128],
  red: [220, 40, 40],
  orange: [245, 140, 30],
  yellow: [250, 220, 50],
  green: [60, 170, 70],
  blue: [40, 90, 220],
  'light blue': [150, 200, 250],
  'sky blue': [135, 206, 235],
  navy: [20, 30, 100],
  purple: [130, 60, 180],
  violet: [140, 90, 220],
  pink: [245, 150, 190],
  brown: [120, 80, 40],
  beige: [235, 220, 190],
  teal: [0, 128, 128],
  cyan: [0, 200, 220],
  magenta: [210, 40, 160],
  gold: [230, 185, 40],
  golden: [230, 185, 40],
  silver: [190, 190, 195],
};

/** The colour a background prompt names ("a blue background"), if it names only a colour. */
function plainColour(prompt: string): { name: string; rgb: readonly [number, number, number] } | undefined {
  const name = /^(?:an? )?(.+?)(?: colou?r(?:ed)?)?(?: background)?$/i
    .exec(prompt.trim())?.[1]
    ?.toLowerCase();
  const rgb = name ? COLOURS[name] : undefined;
  return name && rgb ? { name, rgb } : undefined;
}

/**
 * "make the background blue": found from the pixels. A flat backdrop asked to become a plain colour is
 * recoloured exactly (instant, no diffusion; the subject keeps every pixel); anything else — a scene,
 * or a busy backdrop — is inpainted inside the background mask.
 */
export async function repaintBackground(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  prompt: string,
): Promise<Reply> {
  const background = await backgroundOf(deps, image);
  const colour = plainColour(prompt);
  if (background.method === 'backdrop' && colour) {
    return exactEdit(deps, ctx, image, { op: 'recolour', colour: [...colour.rgb], name: colour.name });
  }
  const refused = checkRepaint(deps, image, limitsFor(deps, ctx));
  if (refused) return say(refused.message);
  const spec =
    background.method === 'backdrop'
      ? 'background (the backdrop around the subject)'
      : 'background (the border band)';
  const saved = await storeMask(deps, image, background, background.mask, spec, ctx.userId);
  return inpaint(deps, ctx, image, saved, prompt, 'Repainted the background');
}

/**
 * An image's background, found on its pixels read at most {@link analysisSize} (bounded work in the chat
 * process, whatever the image's size).
 */
async function backgroundOf(deps: CommandDeps, image: ImageRecord) {
  const size = analysisSize(image.width, image.height);
  const scaled = size.width !== image.width || size.height !== image.height;
  const pixels = await loadImagePixels(deps, image, scaled ? size : undefined);
  return { ...(await backgroundMask(pixels)), ...size };
}

/** Stores a mask found at the analysis size as a mask of the image's own size. */
async function storeMask(
  deps: CommandDeps,
  image: ImageRecord,
  analysed: { width: number; height: number },
  mask: Float32Array,
  spec: string,
  userId: string,
) {
  const { width, height } = image;
  const sized =
    analysed.width === width && analysed.height === height
      ? mask
      : await resizeMask(mask, analysed.width, analysed.height, width, height);
  return saveMask(deps, sized, width, height, 'region', spec, userId);
}
