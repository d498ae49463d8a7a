/** Whether the queue takes a new job at all: not while shutting down, and only kinds it knows. */
import { ErrorCode, UserError } from '../errors.js';

/** Why no job can be queued now, or undefined; `unknownKind` is the job's kind when the queue lacks it. */
export function admissionRefusal(closing: boolean, unknownKind: string | undefined): UserError | undefined {
  if (closing) {
    return new UserError(
      ErrorCode.QueueClosed,
      'I am restarting and not taking new jobs right now; try again in a minute.',
    );
  }
  if (unknownKind !== undefined)
    return new UserError(ErrorCode.JobKindUnknown, `I do not know how to run "${unknownKind}" jobs.`);
  return undefined;
}
