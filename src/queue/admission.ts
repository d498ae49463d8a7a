/** Whether the queue takes a new job: not while shutting down, only known kinds, and per-user caps. */
import { ErrorCode, UserError } from '../errors.js';

/** What admission looks at. */
export interface Admission {
  readonly closing: boolean;
  /** The job's kind when the queue does not know it; undefined when it does. */
  readonly kind: string | undefined;
  /** The person's queued plus running jobs. */
  readonly active: number;
  readonly maxJobsPerUser: number;
}

/** Why a job cannot be queued now, or undefined when it can. */
export function admissionRefusal({
  closing,
  kind,
  active,
  maxJobsPerUser,
}: Admission): UserError | undefined {
  if (closing) {
    return new UserError(
      ErrorCode.QueueClosed,
      'I am restarting and not taking new jobs right now; try again in a minute.',
    );
  }
  if (kind !== undefined)
    return new UserError(ErrorCode.JobKindUnknown, `I do not know how to run "${kind}" jobs.`);
  if (active < maxJobsPerUser) return undefined;
  return new UserError(
    ErrorCode.QueueUserLimit,
    `You already have ${active} job${active === 1 ? '' : 's'} in progress (the limit is ${maxJobsPerUser}). Wait for one to finish, or cancel one.`,
    { active, limit: maxJobsPerUser },
  );
}
