/**
 * Coded errors. Every error flowbot raises on purpose carries a stable `code`, so adapters can decide
 * what to show and tests can assert on the kind of failure rather than on wording.
 *
 * A {@link UserError} is safe to show to the person who caused it: its message is friendly and
 * contains no internals. Anything else is logged and replaced by a generic apology in the chat.
 */
export const ErrorCode = {
  ConfigInvalid: 'config_invalid',
  PromptInvalid: 'prompt_invalid',
  PromptEmpty: 'prompt_empty',
  FlagUnknown: 'flag_unknown',
  FlagValue: 'flag_value',
  FlagRepeated: 'flag_repeated',
  FlagConflict: 'flag_conflict',
  QueueUserLimit: 'queue_user_limit',
  QueueClosed: 'queue_closed',
  JobNotFound: 'job_not_found',
  JobNotYours: 'job_not_yours',
  JobFinished: 'job_finished',
  JobCancelled: 'job_cancelled',
  JobTimeout: 'job_timeout',
  JobInterrupted: 'job_interrupted',
  JobKindUnknown: 'job_kind_unknown',
  StoreCorrupt: 'store_corrupt',
  ModelInvalid: 'model_invalid',
  ModelInput: 'model_input',
  ImageInvalid: 'image_invalid',
  ImageNotFound: 'image_not_found',
  ChannelNotAllowed: 'channel_not_allowed',
  PromptBlocked: 'prompt_blocked',
  RateLimited: 'rate_limited',
  QuotaExceeded: 'quota_exceeded',
  ModelNotAllowed: 'model_not_allowed',
  OverBudget: 'over_budget',
  JobInvalid: 'job_invalid',
  WorkerUnavailable: 'worker_unavailable',
  DataDirLocked: 'data_dir_locked',
  Internal: 'internal',
} as const;

/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every deliberate flowbot error. */
export class FlowbotError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlowbotError';
    this.code = code;
  }
}

/** An error caused by what a person typed or clicked; its message is shown to them as is. */
export class UserError extends FlowbotError {
  /** Optional structured details (for example the allowed range), for adapters that format richly. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message);
    this.name = 'UserError';
    this.details = details;
  }
}

/** A configuration value that is missing or malformed; start-up stops with this message. */
export class ConfigError extends FlowbotError {
  constructor(message: string) {
    super(ErrorCode.ConfigInvalid, message);
    this.name = 'ConfigError';
  }
}

/** True when `error` is a deliberate flowbot error with the given code. */
export function hasCode(error: unknown, code: ErrorCode): boolean {
  return error instanceof FlowbotError && error.code === code;
}

/** Any thrown value as a FlowbotError: itself, or wrapped (code `internal`) with the original as cause. */
export function asFlowbotError(error: unknown): FlowbotError {
  if (error instanceof FlowbotError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new FlowbotError(ErrorCode.Internal, message, { cause: error });
}

/** A short random id that ties a chat apology to its log line. */
export function newErrorId(): string {
  return Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0');
}

/** Something that logs an error line (a {@link import('./log.js').Logger}). */
interface ErrorLog {
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * The error boundary: what a person may see of any thrown value. A UserError's own text; for anything
 * else "Something went wrong (error id k3f9)", with the details logged under that id. Internal
 * details (messages, paths, stacks) never reach chat.
 */
export function publicMessage(
  error: unknown,
  log: ErrorLog,
  what: string,
  fields: Record<string, unknown> = {},
): string {
  if (error instanceof UserError) return error.message;
  const id = logUnexpected(error, log, what, fields);
  return `Something went wrong on my side (error id ${id}). Please try again; if it keeps happening, tell the admin this id.`;
}

/** Logs an error that is not a UserError, with its details, under a new error id; returns the id. */
export function logUnexpected(
  error: unknown,
  log: ErrorLog,
  what: string,
  fields: Record<string, unknown> = {},
): string {
  const id = newErrorId();
  const wrapped = asFlowbotError(error);
  log.error(what, { errorId: id, code: wrapped.code, error: wrapped.cause ?? wrapped, ...fields });
  return id;
}
