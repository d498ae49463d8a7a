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

/** The message to show a person for any thrown value: a UserError's own text, or a generic apology. */
export function friendlyMessage(error: unknown): string {
  if (error instanceof UserError) return error.message;
  return 'Something went wrong on my side. The error was logged; please try again.';
}
