/**
 * One way out: every message flowbot posts goes through {@link Delivery}. It subscribes to the queue once,
 * posts and edits each job's status message through the job's {@link ChatSurface}, throttles progress with
 * one policy (the surface's edit interval), turns the status message into the result where the platform
 * allows it (else removes it), applies one privacy policy (`Reply.ephemeral`, `settings private`, image
 * moderation) and records which chat message shows which job and image.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { createLogger } from '../src/log.js';
import type { JobProgress } from '../src/queue/queue.js';
import type { JobRecord } from '../src/store/store.js';
import { revealButton } from './actions.js';
import { viewOfJob } from './context.js';
import type { CommandDeps } from './deps.js';
import { progressText } from './progress.js';
import type {
  ChatSurface,
  MessageRef,
  Place,
  Platform,
  PostedResult,
  ResultPost,
  StatusUpdate,
} from './surface.js';
import { Transcript } from './transcript.js';
import type { ButtonSpec, Reply, ResultView } from './types.js';
import { waitNotice } from './wait-notices.js';

const log = createLogger('delivery');

/**
 * Finished jobs remembered, so that a "queued" answer delivered after its job already ended posts no
 * status; that answer comes within seconds, so this bound only keeps a long-running bot's memory flat.
 */
const SETTLED_KEPT = 10_000;

/** The neutral line a held-back image's status message ends with, for everyone in the channel. */
export const HELD_BACK_LINE = 'No image to show here.';
/** What the owner of a held-back image is told, privately. */
export const HELD_BACK_NOTICE = "This image was held back by this channel's image filter.";

/** A job Delivery follows: its surface, where it was asked, and its status message. */
interface Followed {
  readonly platform: Platform;
  progress(job: JobRecord, progress: JobProgress): void;
  notice(text: string): void;
  finish(view: ResultView): Promise<void>;
  end(text: string): Promise<void>;
}

/** The answers of one surface: what its adapter calls after the command layer answered. */
export interface Outbox<H> {
  /** Shows the command layer's replies to an event from `place`. */
  deliver(replies: readonly Reply[], place: Place, handle?: H): Promise<void>;
}

/** The delivery service. */
export class Delivery {
  /** How to show replies on each attached surface without an answer in progress. */
  private readonly plainOutboxes = new Map<
    string,
    (replies: readonly Reply[], place: Place) => Promise<void>
  >();
  /** How to follow a job on each attached surface without an answer in progress (after a restart). */
  private readonly followers = new Map<
    string,
    (place: Place, jobId: string, status?: MessageRef) => Followed
  >();
  private readonly followed = new Map<string, Promise<Followed | undefined>>();
  /** Jobs answered by the command layer whose status message is not posted yet (their events wait). */
  private readonly awaiting = new Map<string, (followed: Followed | undefined) => void>();
  /** Jobs whose end was shown already (the latest {@link SETTLED_KEPT}, oldest out first). */
  private readonly settled = new Set<string>();
  private readonly previews = new Map<string, Uint8Array>();
  /** The playground's conversation, which flowbot itself keeps. */
  readonly transcript: Transcript;

  constructor(private readonly deps: CommandDeps) {
    this.transcript = new Transcript(deps.store);
    this.subscribe();
  }

  /** Connects a surface: from now on, jobs from its platform are shown there. */
  attach<H>(surface: ChatSurface<H>): Outbox<H> {
    this.followers.set(surface.platform, (place, jobId, status) =>
      this.follow(surface, jobId, place, undefined, status),
    );
    this.plainOutboxes.set(surface.platform, (replies, place) =>
      this.deliver(surface, replies, place, undefined),
    );
    return { deliver: (replies, place, handle) => this.deliver(surface, replies, place, handle) };
  }

  /**
   * Called by the command layer as it answers: the jobs in `replies` will get a status message from their
   * platform's adapter, so their events wait for it (a quick job may end before its status is posted).
   * An adapter that never delivers them is waited for `patienceMs` at most.
   */
  expect(replies: readonly Reply[], platform: Platform, patienceMs = 30_000): void {
    const follower = this.followers.get(platform);
    if (!follower) return;
    for (const reply of replies) {
      if (reply.type !== 'queued' || this.followed.has(reply.jobId)) continue;
      const jobId = reply.jobId;
      const answered = new Promise<Followed | undefined>((resolve) => this.awaiting.set(jobId, resolve));
      this.followed.set(jobId, answered);
      setTimeout(() => {
        const resolve = this.awaiting.get(jobId);
        this.awaiting.delete(jobId);
        if (!resolve) return;
        try {
          const job = this.deps.store.getJob(jobId);
          resolve(job ? this.fallback(job) : undefined);
        } catch (error) {
          resolve(undefined); // the store closed meanwhile (shutting down)
          log.debug('an expected job was not followed', { job: jobId, error });
        }
      }, patienceMs).unref();
    }
  }

  /**
   * Shows replies on a platform's surface with no event being answered there (the mask editor answers
   * for the platform its link came from); false when no surface of that platform is attached.
   */
  async deliverTo(platform: Platform, replies: readonly Reply[], place: Place): Promise<boolean> {
    const outbox = this.plainOutboxes.get(platform);
    if (!outbox) return false;
    await outbox(replies, place);
    return true;
  }

  /** True when flowbot posted this message (a reply or reaction on it is for flowbot). */
  isOurs(platform: Platform, channelId: string, messageId: string): boolean {
    return this.deps.store.findChatMessage(platform, channelId, messageId) !== undefined;
  }

  /** The image a message shows (a result, or a picture someone brought), if flowbot knows it. */
  imageShownBy(platform: Platform, channelId: string, messageId: string): string | undefined {
    return this.deps.store.findChatMessage(platform, channelId, messageId)?.imageId ?? undefined;
  }

  /** The thread a message of flowbot's sits in, if it is one of flowbot's. */
  threadOf(platform: Platform, channelId: string, messageId: string): string | undefined {
    const record = this.deps.store.findChatMessage(platform, channelId, messageId);
    return record ? (record.threadId ?? messageId) : undefined;
  }

  /** True when a thread holds one of flowbot's images (a plain message there edits the latest). */
  threadHasImages(platform: Platform, channelId: string, threadId: string): boolean {
    return this.deps.store.latestImageInThread(platform, channelId, threadId) !== undefined;
  }

  /** The latest preview of a running job (any platform), for previews served by URL. */
  preview(jobId: string): Uint8Array | undefined {
    return this.previews.get(jobId);
  }

  private async deliver<H>(
    surface: ChatSurface<H>,
    replies: readonly Reply[],
    place: Place,
    handle: H | undefined,
  ): Promise<void> {
    for (const reply of replies) {
      try {
        await this.show(surface, reply, place, handle);
      } catch (error) {
        log.error('showing a reply failed', { platform: surface.platform, type: reply.type, error });
      }
    }
  }

  private async show<H>(
    surface: ChatSurface<H>,
    reply: Reply,
    place: Place,
    handle: H | undefined,
  ): Promise<void> {
    switch (reply.type) {
      case 'text':
        return reply.ephemeral
          ? surface.sayPrivately(place, reply.text, handle)
          : surface.say(place, reply.text, handle);
      case 'dm':
        return surface.sayPrivately(place, reply.text, handle, true);
      case 'modal':
        return surface.openForm(place, reply.modal, handle);
      case 'delete':
        this.deps.store.deleteChatMessage(surface.platform, reply.channelId, reply.messageId);
        return surface.remove(
          { channelId: reply.channelId, messageId: reply.messageId, private: false },
          handle,
        );
      case 'image':
        await this.post(surface, reply.view, place, handle, undefined);
        return;
      case 'queued': {
        if (this.settled.has(reply.jobId)) return; // its end is shown already, without a status
        this.expect([reply], surface.platform);
        const resolve = this.awaiting.get(reply.jobId);
        this.awaiting.delete(reply.jobId);
        const status = await surface
          .postStatus(place, reply.text, reply.jobId, handle)
          .catch((error: unknown) => {
            log.error('posting a status failed', { platform: surface.platform, error });
            return undefined;
          });
        if (status) this.recordStatus(surface.platform, status, reply.jobId);
        resolve?.(this.follow(surface, reply.jobId, place, handle, status));
      }
    }
  }

  private recordStatus(platform: Platform, status: MessageRef, jobId: string): void {
    this.deps.store.recordChatMessage({
      platform,
      channelId: status.channelId,
      messageId: status.messageId,
      jobId,
      threadId: status.threadId ?? null,
    });
  }

  /** A job's lifecycle on one surface: throttled progress, notices, and its one message at the end. */
  private follow<H>(
    surface: ChatSurface<H>,
    jobId: string,
    place: Place,
    handle: H | undefined,
    status: MessageRef | undefined,
  ): Followed {
    let lastEdit = 0;
    const edit = (update: StatusUpdate) => {
      if (!status) return;
      surface
        .editStatus(status, update, handle)
        .catch((error: unknown) => log.warn('editing a status failed', { error }));
    };
    return {
      platform: surface.platform,
      progress: (job, progress) => {
        const now = Date.now();
        if (now - lastEdit < surface.limits.editIntervalMs) return;
        lastEdit = now;
        const text = progressText(job, progress.step, progress.total);
        edit({ jobId, text, step: progress.step, total: progress.total, ...preview(progress) });
      },
      notice: (text) => edit({ jobId, text: `⏳ ${text}`, notice: text }),
      finish: (view) => this.post(surface, view, place, handle, status).then(() => undefined),
      end: async (text) => {
        if (status) await surface.editStatus(status, { jobId, text, final: true }, handle);
        else await surface.sayPrivately(place, text, handle);
      },
    };
  }

  /** Posts a result under the privacy and moderation policies; the status message becomes it or goes. */
  private async post<H>(
    surface: ChatSurface<H>,
    view: ResultView,
    place: Place,
    handle: H | undefined,
    status: MessageRef | undefined,
  ): Promise<PostedResult | undefined> {
    const platform = surface.platform;
    if (view.moderation?.action === 'block') {
      if (status)
        await surface.editStatus(
          status,
          { jobId: view.jobId ?? '', text: HELD_BACK_LINE, final: true },
          handle,
        );
      await surface.sayPrivately({ ...place, userId: view.userId }, HELD_BACK_NOTICE, handle, true);
      return undefined;
    }
    const privately = view.private && surface.limits.privateResults;
    // The status becomes the result where both are for the channel; a private result goes to its owner
    // alone (a DM), and a status as private as an ephemeral reply gives way to a public result.
    const into = status && !status.private && !privately ? status : undefined;
    const spoiler = view.moderation?.action === 'spoiler';
    const original = readFileSync(view.file);
    const blurred = spoiler && !surface.limits.nativeSpoilers;
    const result: ResultPost = {
      view,
      png: blurred ? await blurredCopy(original) : original,
      blurred,
      spoiler,
      // A blurred image is revealed by "Show", in a row of its own above the others.
      rows: layoutButtons(
        blurred ? [revealButton(view.imageId), ...view.buttons] : view.buttons,
        surface.limits.buttonsPerRow,
        surface.limits.buttonRows,
      ),
      privately,
      into,
    };
    const posted = await surface.postResult(result, place, handle);
    for (const message of posted.messages)
      this.deps.store.recordChatMessage({
        platform,
        channelId: message.channelId,
        messageId: message.messageId,
        imageId: view.imageId,
        jobId: view.jobId,
        threadId: message.threadId ?? null,
      });
    if (status && !posted.replacedStatus) {
      this.deps.store.deleteChatMessage(platform, status.channelId, status.messageId);
      await surface.remove(status, handle);
    }
    return posted;
  }

  private subscribe(): void {
    const queue = this.deps.queue;
    queue.on('progress', (job, progress) => {
      if (progress.preview) this.previews.set(job.id, progress.preview);
      void this.followedJob(job).then((followed) => followed?.progress(job, progress));
    });
    queue.on('notice', (job, reason) => {
      void this.followedJob(job).then((followed) => followed?.notice(waitNotice(reason)));
    });
    queue.on('succeeded', (job) => {
      const view = viewOfJob(this.deps, job.id);
      this.settle(job, (followed) => (view ? followed.finish(view) : Promise.resolve()));
    });
    queue.on('failed', (job) =>
      this.settle(job, (followed) =>
        followed.end(`Sorry, that didn't work: ${job.error ?? 'unknown error'}`),
      ),
    );
    queue.on('cancelled', (job) => this.settle(job, (followed) => followed.end('Cancelled.')));
  }

  /** Shows a job's end once, on its surface. */
  private settle(job: JobRecord, show: (followed: Followed) => Promise<void>): void {
    this.previews.delete(job.id);
    const followed = this.followedJob(job);
    this.settled.add(job.id);
    for (const oldest of this.settled) {
      if (this.settled.size <= SETTLED_KEPT) break;
      this.settled.delete(oldest);
    }
    void followed
      .then((found) => {
        this.followed.delete(job.id);
        return found ? show(found) : undefined;
      })
      .catch((error: unknown) => log.error('showing the end of a job failed', { job: job.id, error }));
  }

  /**
   * The job as Delivery follows it: answered in this process, or (after a restart, or a job queued
   * from elsewhere, such as the mask editor) found through its recorded status message or its place.
   */
  private followedJob(job: JobRecord): Promise<Followed | undefined> {
    const known = this.followed.get(job.id);
    if (known) return known;
    const followed = Promise.resolve(this.fallback(job));
    this.followed.set(job.id, followed);
    return followed;
  }

  /** A job followed without an answer in progress: through its recorded status message, or its place. */
  private fallback(job: JobRecord): Followed | undefined {
    const follower = job.platform ? this.followers.get(job.platform) : undefined;
    if (!follower || !job.channelId) return undefined;
    const recorded = this.deps.store
      .chatMessagesOfJob(job.id)
      .find((m) => m.platform === job.platform && !m.imageId);
    const threadId = recorded?.threadId ?? undefined;
    const status: MessageRef | undefined = recorded
      ? { channelId: recorded.channelId, messageId: recorded.messageId, private: false, threadId }
      : undefined;
    return follower({ userId: job.userId, channelId: job.channelId, threadId }, job.id, status);
  }
}

function preview(progress: JobProgress): { preview?: Uint8Array } {
  return progress.preview ? { preview: progress.preview } : {};
}

/** Buttons in rows of at most `perRow`, at most `rows` rows, in the view's row order. */
export function layoutButtons(buttons: readonly ButtonSpec[], perRow: number, rows: number): ButtonSpec[][] {
  const byRow = new Map<number, ButtonSpec[]>();
  for (const button of buttons) byRow.set(button.row, [...(byRow.get(button.row) ?? []), button]);
  const laid: ButtonSpec[][] = [];
  for (const group of byRow.values())
    for (let i = 0; i < group.length; i += perRow) laid.push(group.slice(i, i + perRow));
  return laid.slice(0, rows);
}

/** A strongly blurred copy of an image moderation marked `spoiler` (the original is one click away). */
export async function blurredCopy(png: Buffer): Promise<Buffer> {
  const { width = 64 } = await sharp(png).metadata();
  return sharp(png)
    .blur(Math.max(8, Math.round(width / 16)))
    .png()
    .toBuffer();
}
