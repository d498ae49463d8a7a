/**
 * The one port a chat platform implements: {@link ChatSurface}. The command layer's {@link Delivery}
 * (delivery.ts) decides what to say, when, to whom and how often; a surface only says it on its platform.
 * A surface holds no store, queue or file store: what it needs arrives in the arguments.
 *
 * `H` is the surface's own handle for an answer in progress (Discord: the interaction to answer). Delivery
 * passes it back untouched; calls made without one (a job resumed after a restart) must still work.
 */
import type { ButtonSpec, ChatContext, ModalSpec, ResultView } from './types.js';

/** A chat platform's name, as events carry it. */
export type Platform = ChatContext['platform'];

/** Where an answer goes: who asked, in which channel and thread, and which of their messages it answers. */
export interface Place {
  readonly userId: string;
  readonly channelId: string;
  readonly threadId?: string | undefined;
  /** The person's own message (or the message their button or reaction was on). */
  readonly replyTo?: string | undefined;
}

/** A message flowbot posted. */
export interface MessageRef {
  readonly channelId: string;
  readonly messageId: string;
  /** Seen by the person who asked alone (an ephemeral reply, a DM). */
  readonly private: boolean;
  /** The thread it sits in, when the platform threads answers. */
  readonly threadId?: string | undefined;
}

/** What a platform allows. */
export interface SurfaceLimits {
  /** The largest upload, in bytes, where nothing more specific is known. */
  readonly uploadBytes: number;
  /** Buttons one row may hold. */
  readonly buttonsPerRow: number;
  /** Rows of buttons one message may hold. */
  readonly buttonRows: number;
  /** The least time between two edits of one status message (the platform's rate limits). */
  readonly editIntervalMs: number;
  /** Whether results can go to their owner alone (a DM); the playground has one person and no DMs. */
  readonly privateResults: boolean;
  /** Whether the platform hides an image until clicked by itself (Discord's spoilers); else it is blurred. */
  readonly nativeSpoilers: boolean;
}

/** A job's progress or a notice about it, for its status message. */
export interface StatusUpdate {
  readonly jobId: string;
  /** The whole text of the status message. */
  readonly text: string;
  readonly step?: number;
  readonly total?: number;
  /** A notice's own words (no worker running, Redis unreachable), where `text` is the whole status. */
  readonly notice?: string;
  /** A latent preview (PNG). */
  readonly preview?: Uint8Array;
  /** The job has ended without an image (failed, cancelled, held back): the text is its last word. */
  readonly final?: boolean;
}

/** A result to post: the view, the bytes to upload, and where. */
export interface ResultPost {
  readonly view: ResultView;
  /** The PNG to show: the original, or its blurred copy for an image moderation marked `spoiler`. */
  readonly png: Buffer;
  /** True when `png` is the blurred copy (Slack and the playground then offer "Show"). */
  readonly blurred: boolean;
  /** Discord's way of hiding an image until clicked: the file is named `SPOILER_…`. */
  readonly spoiler: boolean;
  /** Buttons laid out in rows within the surface's limits. */
  readonly rows: readonly (readonly ButtonSpec[])[];
  /** To its owner alone (`settings private on`). */
  readonly privately: boolean;
  /** The job's status message, to become the result where the platform allows it. */
  readonly into?: MessageRef | undefined;
}

/** What posting a result left in the chat. */
export interface PostedResult {
  /** The messages that show the image (recorded, so replies and reactions find it). */
  readonly messages: readonly MessageRef[];
  /** True when the status message became (part of) the result; otherwise Delivery removes it. */
  readonly replacedStatus: boolean;
}

/** A chat platform, as Delivery sees it. */
export interface ChatSurface<H = undefined> {
  readonly platform: Platform;
  readonly limits: SurfaceLimits;
  /** Posts a job's status message ("#1 in the queue…"), after the person's own message. */
  postStatus(place: Place, text: string, jobId: string, handle?: H): Promise<MessageRef | undefined>;
  /** Edits a status message (progress, a notice, or its last word). */
  editStatus(status: MessageRef, update: StatusUpdate, handle?: H): Promise<void>;
  /** Posts a result, into its status message where the platform can. */
  postResult(post: ResultPost, place: Place, handle?: H): Promise<PostedResult>;
  /** A text for the channel. */
  say(place: Place, text: string, handle?: H): Promise<void>;
  /** A text for the person alone; `direct` asks for a direct message where there is one. */
  sayPrivately(place: Place, text: string, handle?: H, direct?: boolean): Promise<void>;
  /** Opens a form (remix prompt, region words); a surface that cannot says so privately. */
  openForm(place: Place, form: ModalSpec, handle?: H): Promise<void>;
  /** Removes a message flowbot posted. */
  remove(message: MessageRef, handle?: H): Promise<void>;
}
