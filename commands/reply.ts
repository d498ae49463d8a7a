/**
 * A reply to a result is an edit. The grammar says what was meant; this module turns it into a job on
 * the right image, and every result says in one line how the reply was understood.
 */
import { sizeFor } from '../src/pipeline/recipe.js';
import type { ImageRecord } from '../src/store/store.js';
import { answer } from './ask.js';
import {
  type CommandDeps,
  cellOf,
  enqueue,
  imageForMessage,
  requireImage,
  single,
  truncate,
  viewOf,
} from './context.js';
import { exactEdit } from './edit.js';
import type { Interpretation, ParamChanges } from './grammar.js';
import { imagine } from './imagine.js';
import { interpretationSchema } from './interpretation-schema.js';
import { checkReplyLength, checkSteps, limitsFor } from './limits.js';
import { readingName, type Typed, understandReply } from './meaning.js';
import { pastedLinkAnswer } from './pasted-links.js';
import { attribute, reimagine, repaintBackground, substituteWord, weigh } from './prompt-edits.js';
import { inpaint, lastMask, maskFromUpload, maskFromWords } from './region.js';
import { reroll } from './reroll.js';
import { rewritePrompt } from './rewrite.js';
import type { Attachment, ChatContext, Reply } from './types.js';
import { say } from './types.js';
import { biggerThan, upscale } from './upscale.js';
import { VARY_STRENGTH, vary } from './vary.js';
import { outpaint } from './zoom.js';

/** Strength of a conversational refine (moderate: keeps the composition). */
export const REFINE_STRENGTH = 0.55;

/**
 * Handles a reply to one of flowbot's messages (typed `unaimed`: words typed with no message chosen,
 * aimed at the latest image).
 */
export async function reply(
  deps: CommandDeps,
  ctx: ChatContext,
  text: string,
  target: { channelId: string; messageId: string },
  attachment?: Attachment,
  typed: Typed = 'reply',
): Promise<Reply | Reply[]> {
  const tooLong = checkReplyLength(text);
  if (tooLong) return say(tooLong.message);
  const link = pastedLinkAnswer(text);
  if (link) return link;
  const named = namedImage(deps, text);
  const words = named ? text.replace(named.mention, ' ').trim() : text;
  const { cell, meaning, newPrompt } = await understandReply(words, deps.meaning, typed);
  // A prompt typed in a thread ("a cat on a boat"), or in the playground's box, starts a new image
  // rather than editing the last one.
  const unaimed = typed === 'unaimed' || isThreadMessage(ctx, target);
  if (newPrompt && unaimed && !named && !attachment) return imagine(deps, ctx, words);
  const replied = named?.image ?? repliedImage(deps, ctx, target, cell);
  const conversation = conversationKey(ctx, target, replied);
  if (meaning.kind !== 'undo' && meaning.kind !== 'redo')
    deps.store.conversations.setRedoStack(conversation, []);
  if (attachment) {
    const mask = await maskFromUpload(deps, ctx, single(deps, replied), attachment);
    return inpaint(deps, ctx, single(deps, replied), mask, text, 'Repainted');
  }
  if (meaning.kind === 'error') return say(meaning.message);
  if (meaning.kind === 'upscale') {
    // Larger than the message replied to: a named cell of a grid is compared with the grid.
    const shown = imageForMessage(deps, ctx.platform, target.channelId, target.messageId);
    const source = single(deps, replied);
    return upscale(deps, ctx, source, biggerThan(source, shown, scaleFor(source, words, meaning.scale)));
  }
  if (meaning.kind === 'undo' || meaning.kind === 'redo')
    return step(deps, single(deps, replied), meaning.kind, conversation, ctx.platform);
  return act(deps, ctx, replied, meaning);
}

/**
 * A plain "upscale" of a picture someone brought is ×4: photos are upscaled to be made large, and a
 * named factor ("upscale 2x") is kept.
 */
function scaleFor(source: ImageRecord, words: string, asked: 2 | 4): 2 | 4 {
  return source.operation === 'upload' && !/[24]/.test(words) ? 4 : asked;
}

/**
 * Text typed in a channel with no message chosen (the playground's box): it edits the conversation's
 * latest image when it reads as an edit, and otherwise (a description, a first prompt) starts a new one.
 */
export async function converse(deps: CommandDeps, ctx: ChatContext, text: string): Promise<Reply | Reply[]> {
  const latest = deps.store.latestImageInThread(ctx.platform, ctx.channelId, ctx.channelId);
  // Words longer than any reply may be are a prompt with its flags ("--no …"), checked as one.
  if (!latest || checkReplyLength(text)) return imagine(deps, ctx, text);
  const target = { channelId: ctx.channelId, messageId: latest.messageId };
  return reply(deps, ctx, text, target, undefined, 'unaimed');
}

/** A plain message in a thread, aimed at no particular message. */
function isThreadMessage(ctx: ChatContext, target: { messageId: string }): boolean {
  return ctx.threadId !== undefined && target.messageId === ctx.threadId;
}

/** "#k7fq2m" anywhere in a reply names that image. */
function namedImage(deps: CommandDeps, text: string): { image: ImageRecord; mention: string } | undefined {
  for (const match of text.matchAll(/#([a-z0-9]{6})\b/gi)) {
    const image = deps.store.getImage(match[1]!.toLowerCase());
    if (image) return { image, mention: match[0] };
  }
  return undefined;
}

/**
 * The image a reply acts on. A reply to a specific message acts on that message's image; a plain reply
 * in a thread (Slack's thread replies, messages in a Discord thread) acts on the conversation's head:
 * the latest image flowbot posted there.
 */
function repliedImage(
  deps: CommandDeps,
  ctx: ChatContext,
  target: { channelId: string; messageId: string },
  cell: number | undefined,
): ImageRecord {
  if (ctx.threadId && target.messageId === ctx.threadId) {
    // A named cell ("#2 …") is a cell of the grid the thread started from (in Discord, a message of
    // the parent channel); otherwise the thread's head.
    const record =
      cell === undefined
        ? deps.store.latestImageInThread(ctx.platform, target.channelId, ctx.threadId)
        : (deps.store.findChatMessage(ctx.platform, target.channelId, ctx.threadId) ??
          deps.store.findChatMessageAnywhere(ctx.platform, ctx.threadId));
    if (record?.imageId) {
      const image = requireImage(deps, record.imageId);
      return cell === undefined ? image : cellOf(deps, image, cell);
    }
  }
  return imageForMessage(deps, ctx.platform, target.channelId, target.messageId, cell);
}

/** Where a conversation's redo stack is kept: its thread, or (for replies) its chain of images. */
function conversationKey(
  ctx: ChatContext,
  target: { channelId: string; messageId: string },
  replied: ImageRecord,
): string {
  const where = ctx.threadId ? `thread:${target.channelId}:${ctx.threadId}` : `chain:${replied.rootId}`;
  return `conversation:${ctx.platform}:${where}`;
}

/**
 * "undo" moves the head one step back along the chain (posting the parent's stored pixels again) and
 * remembers the step; "redo" moves it forward again.
 */
function step(
  deps: CommandDeps,
  head: ImageRecord,
  direction: 'undo' | 'redo',
  conversation: string,
  platform: ChatContext['platform'],
): Reply {
  const stack = deps.store.conversations.redoStack(conversation);
  if (direction === 'undo') {
    if (!head.parentId) return say('This is the first image of its line; there is nothing to go back to.');
    const parent = requireImage(deps, head.parentId);
    deps.store.conversations.setRedoStack(conversation, [...stack, head.id]);
    return {
      type: 'image',
      view: viewOf(
        deps,
        parent,
        `Back to #${parent.id} (the ${parent.operation} before #${head.id})`,
        platform,
      ),
    };
  }
  // Forward to the last undone image that continues from here.
  while (stack.length > 0) {
    const next = deps.store.getImage(stack.pop()!);
    if (next && next.parentId === head.id) {
      deps.store.conversations.setRedoStack(conversation, stack);
      return {
        type: 'image',
        view: viewOf(deps, next, `Forward to #${next.id} (the ${next.operation} of #${head.id})`, platform),
      };
    }
  }
  deps.store.conversations.setRedoStack(conversation, []);
  return say('There is nothing to redo here.');
}

/** A reading flowbot proposed and is waiting for a "yes" on. */
interface Proposal {
  readonly imageId: string;
  readonly meaning: Interpretation;
}

/** The proposal waiting for this person's "yes"; one this version cannot read counts as none. */
function pendingProposal(deps: CommandDeps, userId: string): Proposal | undefined {
  const stored = deps.store.conversations.proposal(userId);
  const meaning = interpretationSchema.safeParse(stored?.meaning);
  return stored && meaning.success ? { imageId: stored.imageId, meaning: meaning.data } : undefined;
}

/** Carries out what a reply meant, on the image it replied to. */
async function act(
  deps: CommandDeps,
  ctx: ChatContext,
  replied: ImageRecord,
  meaning: Interpretation,
): Promise<Reply> {
  switch (meaning.kind) {
    case 'question':
      return answer(deps, single(deps, replied), meaning.topic);
    case 'confirm': {
      const pending = pendingProposal(deps, ctx.userId);
      if (!pending || pending.imageId !== replied.id)
        return say(
          'There is nothing waiting for a yes on this image. Tell me what to change, or ask "what can I say?".',
        );
      deps.store.conversations.setProposal(ctx.userId, undefined);
      return act(deps, ctx, replied, pending.meaning);
    }
    case 'unclear': {
      const proposal: Proposal = { imageId: replied.id, meaning: meaning.proposal };
      deps.store.conversations.setProposal(ctx.userId, proposal);
      const image = single(deps, replied);
      const reading =
        meaning.proposal.kind === 'refine'
          ? `add it to the prompt → "${truncate(`${image.prompt}, ${meaning.proposal.phrase}`, 160)}" (img2img)`
          : readingName(meaning.proposal);
      return say(
        `I'm not sure what "${truncate(meaning.text, 80)}" means. My best reading: ${reading}. Reply "yes" to do that, or say it another way ("what can I say?" lists what I understand).`,
      );
    }
    case 'substitute':
      return substituteWord(deps, ctx, single(deps, replied), meaning.from, meaning.to);
    case 'attribute':
      return attribute(deps, ctx, single(deps, replied), meaning.subject, meaning.attribute);
    case 'weight':
      return weigh(deps, ctx, single(deps, replied), meaning.term, meaning.factor);
    case 'exact':
      return exactEdit(deps, ctx, single(deps, replied), meaning.edit);
    case 'background':
      return repaintBackground(deps, ctx, single(deps, replied), meaning.prompt);
    case 'zoom':
      if (meaning.outpaint) return outpaint(deps, ctx, single(deps, replied), meaning.outpaint);
      return say(
        `I can't "${meaning.what}" yet. I can zoom out ("zoom out", "zoom out 2x"), pan ("pan left", "extend the top"), or widen ("make it wider"); "upscale" makes it larger.`,
      );
    case 'undo':
    case 'redo':
      return say('Say "undo" or "redo" as a reply of its own.');
    case 'reroll':
      return reroll(deps, ctx, replied);
    case 'upscale':
      return upscale(
        deps,
        ctx,
        single(deps, replied),
        biggerThan(single(deps, replied), replied, meaning.scale),
      );
    case 'variations':
      return vary(
        deps,
        ctx,
        single(deps, replied),
        meaning.strength === 'subtle'
          ? VARY_STRENGTH.subtle
          : meaning.strength === 'strong'
            ? VARY_STRENGTH.strong
            : 0.6,
      );
    case 'inpaint': {
      const image = single(deps, replied);
      const mask = await maskFromWords(deps, image, meaning.region, ctx.userId);
      return inpaint(deps, ctx, image, mask, meaning.prompt, 'Repainted');
    }
    case 'same_mask': {
      const image = single(deps, replied);
      const mask = lastMask(deps, image);
      if (!mask)
        return say('This image has no mask yet. Name a region first, e.g. "in the top left: a moon".');
      return inpaint(deps, ctx, image, mask, meaning.prompt || image.prompt, 'Repainted (same mask)');
    }
    case 'params':
      return applyParams(deps, ctx, single(deps, replied), meaning.changes);
    case 'refine':
      return refine(deps, ctx, single(deps, replied), meaning.phrase, meaning.mode);
  }
}

/** img2img from the replied image with an edited prompt, the same seed and a moderate strength. */
function refine(
  deps: CommandDeps,
  ctx: ChatContext,
  image: ImageRecord,
  phrase: string,
  mode: 'append' | 'negative',
): Reply {
  const { prompt, negativePrompt } = refined(image, phrase, mode);
  // The prompt before and after, so the line shows exactly what the reply did to it.
  const change =
    mode === 'negative'
      ? `"${truncate(prompt, 160)}" without "${truncate(phrase, 80)}"`
      : `"${truncate(image.prompt, 90)}" → "${truncate(prompt, 110)}"`;
  return reimagine(deps, ctx, image, {
    prompt,
    negativePrompt,
    strength: REFINE_STRENGTH,
    explanation: `Refined: ${change} · img2img ${REFINE_STRENGTH} · seed ${image.seed} · from #${image.id}`,
  });
}

/** The prompt and negative prompt a refine leads to (the rewrite the corpus checks). */
function refined(image: ImageRecord, phrase: string, mode: 'append' | 'negative') {
  const change = rewritePrompt(image.prompt, image.negativePrompt, {
    kind: 'refine',
    phrase,
    mode,
    rule: 'text',
  });
  return change?.ok ? change : { prompt: image.prompt, negativePrompt: image.negativePrompt };
}

/** Seed, size, steps and strength changes: redo the image's own operation with them. */
function applyParams(deps: CommandDeps, ctx: ChatContext, image: ImageRecord, changes: ParamChanges): Reply {
  if (changes.strengthDelta !== undefined) {
    const fromParent = (image.operation === 'variation' || image.operation === 'inpaint') && image.parentId;
    const source = fromParent ? requireImage(deps, image.parentId!) : image;
    const base = fromParent ? (image.strength ?? REFINE_STRENGTH) : REFINE_STRENGTH;
    const strength = Math.round(Math.min(0.95, Math.max(0.1, base + changes.strengthDelta)) * 100) / 100;
    const word = changes.strengthDelta > 0 ? 'Stronger' : 'Subtler';
    const explanation = `${word}: "${truncate(image.prompt, 200)}" · img2img ${strength} · seed ${image.seed} · from #${source.id}`;
    return enqueue(deps, ctx, {
      kind: 'variation',
      params: {
        parentId: source.id,
        prompt: image.prompt,
        negativePrompt: image.negativePrompt,
        seed: image.seed,
        strength,
        steps: image.steps,
        guidance: image.guidance,
        n: 1,
        model: image.model,
        explanation,
      },
    });
  }
  const spec = deps.models.get(image.model);
  let { width, height } = image;
  if (changes.aspectRatio) ({ width, height } = sizeFor(spec, { aspectRatio: changes.aspectRatio }));
  if (changes.widen) {
    const ratio = (width / height) * (changes.widen === 'wider' ? 1.5 : 1 / 1.5);
    const clamped = Math.min(4, Math.max(0.25, ratio));
    ({ width, height } = sizeFor(spec, { aspectRatio: { width: Math.round(clamped * 12), height: 12 } }));
  }
  const seed = changes.seed ?? image.seed;
  if (changes.steps !== undefined) {
    const refused = checkSteps(changes.steps, limitsFor(deps, ctx));
    if (refused) return say(refused.message);
  }
  const steps = changes.steps ?? image.steps;
  const guidance = changes.guidance ?? image.guidance;
  const parts = [
    `seed ${seed}`,
    ...(changes.steps !== undefined ? [`${steps} steps`] : []),
    ...(changes.guidance !== undefined ? [`cfg ${guidance}`] : []),
    ...(width !== image.width || height !== image.height ? [`${width}×${height}`] : []),
  ];
  const explanation = `Re-generated: "${truncate(image.prompt, 200)}" · ${parts.join(' · ')} · from #${image.id}`;
  return enqueue(deps, ctx, {
    kind: 'generate',
    params: {
      prompt: image.prompt,
      negativePrompt: image.negativePrompt,
      seed,
      steps,
      guidance,
      width,
      height,
      n: 1,
      model: image.model,
      parentId: image.id,
      explanation,
    },
  });
}
