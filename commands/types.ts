/**
 * The one internal event type every adapter produces, and the platform-free replies commands return.
 * Adapters validate nothing themselves: `parseEvent` (zod) is the boundary.
 */
import { z } from 'zod';

const context = z.object({
  platform: z.enum(['discord', 'slack', 'web', 'cli']),
  userId: z.string().min(1).max(200),
  userName: z.string().max(200).optional(),
  channelId: z.string().min(1).max(200),
  threadId: z.string().max(200).optional(),
  messageId: z.string().max(200).optional(),
  isAdmin: z.boolean().default(false),
  /** The platform marks the channel age-restricted (Discord's NSFW channels): moderation defaults to allow. */
  channelNsfw: z.boolean().optional(),
  /** The member's roles where the platform has them (Discord), for per-role quotas and models. */
  roles: z
    .array(z.object({ id: z.string().min(1).max(100), name: z.string().max(200) }))
    .max(250)
    .optional(),
});

/**
 * Downloads an attachment, reading at most `maxBytes + 1` bytes (so that a larger file shows as such);
 * undefined when it could not be downloaded.
 */
export type FetchAttachment = (maxBytes: number) => Promise<Uint8Array | undefined>;

const attachment = z.object({
  name: z.string().max(500),
  contentType: z.string().max(200).optional(),
  /** Declared size, checked before the bytes are fetched. */
  size: z.number().int().nonnegative(),
  /** The bytes, when the adapter already holds them (the mask editor's drawing). */
  bytes: z.instanceof(Uint8Array).optional(),
  /** Otherwise how to fetch them: the command layer calls it only once its cheap checks have passed. */
  fetch: z.custom<FetchAttachment>((value) => typeof value === 'function').optional(),
});

const eventSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('command'),
    name: z.string().min(1).max(50),
    text: z.string().max(10_000),
    ctx: context,
    attachment: attachment.optional(),
  }),
  z.object({
    kind: z.literal('reply'),
    text: z.string().max(10_000),
    target: z.object({ channelId: z.string(), messageId: z.string() }),
    ctx: context,
    attachment: attachment.optional(),
  }),
  /**
   * A message holding an image and (perhaps) an instruction for it: a mention of flowbot with a file, a
   * reply to someone's posted picture, a playground upload. The image becomes one of the conversation.
   */
  z.object({
    kind: z.literal('upload'),
    text: z.string().max(10_000),
    ctx: context,
    attachment,
  }),
  /**
   * Text typed into a channel with no message chosen (the playground's box): the command layer decides
   * whether it is a command, an edit of the channel's latest image or a new prompt.
   */
  z.object({
    kind: z.literal('message'),
    text: z.string().max(10_000),
    ctx: context,
  }),
  z.object({
    kind: z.literal('action'),
    customId: z.string().min(1).max(100),
    fields: z.record(z.string(), z.string().max(2000)).optional(),
    ctx: context,
  }),
  z.object({
    kind: z.literal('reaction'),
    emoji: z.string().min(1).max(100),
    target: z.object({ channelId: z.string(), messageId: z.string() }),
    ctx: context,
  }),
]);

/** Who did something, where. */
export type ChatContext = z.infer<typeof context>;
/** An uploaded file. */
export type Attachment = z.infer<typeof attachment>;
/** The internal event. */
export type InboundEvent = z.infer<typeof eventSchema>;
/** The internal event as adapters build it (defaults may be left out). */
export type InboundEventInput = z.input<typeof eventSchema>;

/** Validates an adapter's event. */
export function parseEvent(
  input: unknown,
): { ok: true; event: InboundEvent } | { ok: false; message: string } {
  const parsed = eventSchema.safeParse(input);
  if (parsed.success) return { ok: true, event: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { ok: false, message: `${issue.path.join('.')}: ${issue.message}` };
}

/** A button under a result. */
export interface ButtonSpec {
  readonly customId: string;
  readonly label: string;
  readonly style: 'primary' | 'secondary' | 'danger' | 'link';
  /** For link buttons (the mask editor). */
  readonly url?: string;
  /** Buttons are laid out in rows. */
  readonly row: number;
}

/** A posted image with what to say and which buttons to offer. */
export interface ResultView {
  readonly imageId: string;
  readonly jobId: string | null;
  readonly userId: string;
  readonly isGrid: boolean;
  /** Image ids of a grid's cells (empty for a single image). */
  readonly cellIds: readonly string[];
  /** The one-line explanation and parameters. */
  readonly text: string;
  /** A context line: prompt, seed and image id. */
  readonly context: string;
  /** Absolute path of the PNG. */
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly buttons: readonly ButtonSpec[];
  /** The image this one was made from, so adapters can thread or reply under it. */
  readonly parentId: string | null;
  /** The owner's `settings private on`: chat adapters send the result by DM (the playground ignores it). */
  readonly private: boolean;
  /**
   * Image moderation's decision (absent: not checked, post as is). `spoiler`: Discord posts the file as
   * `SPOILER_…`, Slack and the playground show it blurred with a "show" button. `block`: never posted; the
   * owner is told privately.
   */
  readonly moderation?: ModerationView;
}

/** What image moderation decided for a posted image. */
export interface ModerationView {
  readonly action: 'allow' | 'spoiler' | 'block';
  /** The classifier's explicit-content score, 0–1. */
  readonly score: number;
}

/** A form to show (remix prompt, region words). */
export interface ModalSpec {
  readonly customId: string;
  readonly title: string;
  readonly fields: readonly {
    readonly id: string;
    readonly label: string;
    readonly value?: string;
    readonly placeholder?: string;
    readonly long?: boolean;
  }[];
}

/** What a command answers. */
export type Reply =
  | { readonly type: 'text'; readonly text: string; readonly ephemeral: boolean }
  | { readonly type: 'queued'; readonly jobId: string; readonly position: number; readonly text: string }
  | { readonly type: 'image'; readonly view: ResultView }
  | { readonly type: 'modal'; readonly modal: ModalSpec }
  | { readonly type: 'dm'; readonly text: string }
  | { readonly type: 'delete'; readonly channelId: string; readonly messageId: string };

/** A friendly, private answer. */
export function say(text: string, ephemeral = true): Reply {
  return { type: 'text', text, ephemeral };
}
