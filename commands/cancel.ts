/** `cancel [job id]`: your own queued or running job (the latest one when no id is given). */
import type { CommandDeps } from './context.js';
import { type ChatContext, type Reply, say } from './types.js';

/** Handles `cancel`. */
export function cancel(deps: CommandDeps, ctx: ChatContext, text: string): Reply {
  let jobId = text.trim().replace(/^#/, '');
  if (!jobId) {
    const mine = deps.queue.jobsOf(ctx.userId);
    if (mine.length === 0) return say('You have no jobs in progress.');
    jobId = mine.sort((a, b) => b.job.createdAt - a.job.createdAt)[0]!.job.id;
  }
  const result = deps.queue.cancel(jobId, ctx.userId, ctx.isAdmin);
  return say(result.ok ? `Cancelled job ${jobId}.` : result.error.message);
}
