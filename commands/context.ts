/**
 * What every command gets, and the shared steps: guard checks (channel, blocklist, rate limit),
 * enqueueing with a one-line explanation, finding the image a message or button refers to, and
 * turning stored images into result views.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import type { ImageJobResult } from '../src/jobs.js';
import { gridCellIds, type ImageRecord, type JobRecord } from '../src/store/store.js';
import { gridButtons, singleButtons } from './actions.js';
import { blocklistRefusal } from './blocklist.js';
import { type CommandDeps, type JobRequest, requireImage } from './deps.js';
import { checkHourly, checkJob, checkPerson, checkPromptLength, fitJob, limitsFor } from './limits.js';
import { loraNotes, withLoras } from './loras.js';
import { moderationOf } from './moderation.js';
import { explanationOf } from './progress.js';
import { adminSettings, userDefaults } from './settings-model.js';
import type { ChatContext, Reply, ResultView } from './types.js';
import { waitNotice } from './wait-notices.js';
import { withWorkNote } from './work-note.js';

// Their own module keeps the limits (which use them) and this module out of an import circle.
export type { CommandDeps, JobRequest } from './deps.js';
export { requireImage } from './deps.js';

/** Refuses politely when the bot may not work here, the prompt is blocked, or the user is over the hourly limit. */
export function checkAllowed(deps: CommandDeps, ctx: ChatContext, prompt?: string): UserError | undefined {
  const admin = adminSettings(deps.store);
  if (
    admin.channels &&
    admin.channels.length > 0 &&
    !admin.channels.includes(ctx.channelId) &&
    ctx.platform !== 'cli'
  ) {
    return new UserError(
      ErrorCode.ChannelNotAllowed,
      "I don't work in this channel. Ask an admin, or try one of the channels I'm enabled in.",
    );
  }
  const blocked = prompt ? blocklistRefusal(prompt, admin.blocklist ?? []) : undefined;
  if (blocked) return blocked;
  return checkHourly(deps, ctx);
}

/** With Redis, why no job can start now (no image worker, or Redis unreachable); undefined otherwise. */
function waitingReason(deps: CommandDeps): string | undefined {
  const workers = deps.workers?.();
  if (!workers) return undefined;
  if (!workers.redisReachable) return waitNotice('redis-unreachable');
  return workers.capacity === 0 ? waitNotice('no-worker') : undefined;
}

/** Queues a job and answers with its place in line and the explanation. */
export function enqueue(deps: CommandDeps, ctx: ChatContext, asked: JobRequest): Reply {
  return enqueueAll(deps, ctx, [asked])[0]!;
}

/**
 * Queues the jobs of one request (one job, or a permutation prompt's and `--repeat`'s several) after
 * they all pass the gate, and answers with each one's place in line; a refusal queues none of them.
 */
export function enqueueAll(deps: CommandDeps, ctx: ChatContext, asked: readonly JobRequest[]): Reply[] {
  const limits = limitsFor(deps, ctx);
  const requests = asked.map((request) => fitJob(withLoras(deps, request), limits));
  const refused =
    requests
      .map((request) => {
        const prompt = 'prompt' in request.params ? request.params.prompt : undefined;
        return (
          checkPromptLength(request) ?? checkAllowed(deps, ctx, prompt) ?? checkJob(deps, request, limits)
        );
      })
      .find((refusal) => refusal !== undefined) ?? checkPerson(deps, ctx, requests);
  if (refused) return [{ type: 'text', text: refused.message, ephemeral: true }];
  const noted = requests.map((request) => withWorkNote(deps, request));
  const result = deps.queue.enqueueAll(
    noted.map((request) => ({
      kind: request.kind,
      userId: ctx.userId,
      channelId: ctx.channelId,
      platform: ctx.platform,
      params: request.params,
    })),
  );
  if (!result.ok) return [{ type: 'text', text: result.error.message, ephemeral: true }];
  const waiting = waitingReason(deps);
  return result.value.map(({ job, position }, i) => {
    const place = waiting
      ? `#${position} in the queue. ${waiting}`
      : position <= 1
        ? 'starting now'
        : `#${position} in the queue`;
    return { type: 'queued', jobId: job.id, position, text: `${noted[i]!.params.explanation} · ${place}` };
  });
}

/** The image a chat message carries (the cell's image when a cell of a grid is named). */
export function imageForMessage(
  deps: CommandDeps,
  platform: string,
  channelId: string,
  messageId: string,
  cell?: number,
): ImageRecord {
  const record = deps.store.findChatMessage(platform, channelId, messageId);
  let imageId = record?.imageId ?? null;
  if (!imageId && record?.jobId) {
    const job = deps.store.getJob(record.jobId);
    imageId = (job && shownImageOf(job)) ?? null;
  }
  if (!imageId) {
    throw new UserError(
      ErrorCode.ImageNotFound,
      "That message isn't one of my images, so I don't know what to change. Reply to an image I posted.",
    );
  }
  const image = requireImage(deps, imageId);
  return cell === undefined ? image : cellOf(deps, image, cell);
}

/** Cell `cell` (1-based) of a grid; the image itself when it is not a grid. */
export function cellOf(deps: CommandDeps, image: ImageRecord, cell: number): ImageRecord {
  if (image.operation !== 'grid') return image;
  const cells = gridCellIds(image);
  const id = cells[cell - 1];
  if (!id)
    throw new UserError(ErrorCode.FlagValue, `That grid has ${cells.length} images; pick 1–${cells.length}.`);
  return requireImage(deps, id);
}

/** When an edit starts from a grid without naming a cell, the first image is used. */
export function single(deps: CommandDeps, image: ImageRecord): ImageRecord {
  return image.operation === 'grid' ? cellOf(deps, image, 1) : image;
}

/**
 * The result view of a stored image, for the platform it is shown on: `platform` when it is posted in
 * answer to someone (an undo shows an older image where the person is), else the platform of the job
 * that made it.
 */
export function viewOf(
  deps: CommandDeps,
  image: ImageRecord,
  text: string,
  platform?: ChatContext['platform'],
): ResultView {
  const cells = gridCellIds(image);
  const job = image.jobId ? deps.store.getJob(image.jobId) : undefined;
  const target = image.operation === 'grid' ? (cells[0] ?? image.id) : image.id;
  // Only the playground gets the editor link on the result itself (its one user is the owner); in
  // Discord and Slack the link acts as whoever it names, so it goes to the presser alone, privately.
  // An image of no job and no known surface gets no link: the playground's is a path, which Discord's
  // link buttons refuse ("Invalid URL"), so guessing "web" lost the whole answer.
  const shownOn = platform ?? job?.platform;
  const link =
    shownOn === 'web' ? deps.editorLink?.(target, image.userId, shownOn, job?.channelId ?? '') : undefined;
  const moderation = moderationOf(deps, image);
  // A blocked image is never posted: its owner is told in words, and its buttons are for admins only.
  const blocked = moderation?.action === 'block';
  return {
    imageId: image.id,
    jobId: image.jobId,
    userId: image.userId,
    isGrid: cells.length > 0,
    cellIds: cells,
    text,
    context: `“${truncate(image.prompt, 120)}” · seed ${image.seed} · #${image.id}`,
    file: deps.files.resolve(image.filePath),
    width: image.width,
    height: image.height,
    buttons: blocked
      ? []
      : cells.length > 0
        ? gridButtons(image.id, cells.length, link, isDraft(job))
        : singleButtons(image.id, link, isDraft(job)),
    parentId: image.parentId,
    private: userDefaults(deps.store, image.userId).private === true,
    ...(moderation ? { moderation } : {}),
  };
}

/** True for the images of a `--draft` job, which offer "Enhance". */
function isDraft(job: JobRecord | undefined): boolean {
  return job?.kind === 'generate' && (job.params as { draft?: unknown }).draft === true;
}

/** The view of a finished job's result (its grid, or its single image). */
export function viewOfJob(deps: CommandDeps, jobId: string): ResultView | undefined {
  const job = deps.store.getJob(jobId);
  if (job?.state !== 'succeeded') return undefined;
  const id = shownImageOf(job);
  const image = id ? deps.store.getImage(id) : undefined;
  if (!image) return undefined;
  return viewOf(deps, image, explanationOf(job) + loraNotes(image.extra));
}

/** The image a finished job shows: its grid when it made several, else its one image. */
function shownImageOf(job: JobRecord): string | undefined {
  const result = job.result as Partial<ImageJobResult> | null;
  return result?.gridId ?? result?.imageIds?.[0];
}

/** Shortens text for one-line displays. */
export function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

/** A new random seed. */
export function newSeed(): number {
  return Math.floor(Math.random() * 4_294_967_295);
}
