/**
 * An attachment's bytes, fetched only once the cheap checks pass: where flowbot works, the hourly
 * limit, the daily quota and the person's cap on jobs in progress first, then the size the platform
 * stated, then the size of what arrives. Masks and uploaded pictures both come through here.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import { type CommandDeps, checkAllowed } from './context.js';
import { checkQuota, limitsFor } from './limits.js';
import type { Attachment, ChatContext } from './types.js';

/**
 * Why an upload may not be used here, found before it is fetched or decoded: the channel, the hourly
 * limit, the daily quota, the person's cap on jobs in progress. `enqueue` checks them again with the job.
 */
export function refusedBeforeReading(deps: CommandDeps, ctx: ChatContext): UserError | undefined {
  return checkAllowed(deps, ctx) ?? checkQuota(deps, ctx, 1) ?? deps.queue.userCapRefusal(ctx.userId);
}

/** A file over the limit; `declared` is the size the platform stated, when known. */
function tooLarge(noun: string, limitMB: number, declared?: number): UserError {
  const size =
    declared === undefined ? `larger than ${limitMB} MB` : `${(declared / 1024 / 1024).toFixed(1)} MB`;
  return new UserError(ErrorCode.ImageInvalid, `That file is ${size}; ${noun} can be at most ${limitMB} MB.`);
}

/**
 * An upload's bytes within the admin's upload limit: the declared size first, then what arrives.
 * `noun` names what uploads of this kind are ("masks", "images") in the refusal.
 */
export async function uploadBytes(deps: CommandDeps, upload: Attachment, noun: string): Promise<Buffer> {
  const limitMB = limitsFor(deps).maxUploadMB;
  const limit = limitMB * 1024 * 1024;
  if (upload.size > limit) throw tooLarge(noun, limitMB, upload.size);
  const bytes = upload.bytes ?? (await upload.fetch?.(limit));
  if (!bytes)
    throw new UserError(ErrorCode.ImageInvalid, 'I could not download that file; please try again.');
  // The platform's stated size can be wrong; what arrives is what counts.
  if (bytes.byteLength > limit) throw tooLarge(noun, limitMB);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
