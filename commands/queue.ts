/** `queue`: your jobs and their places in line. */
import type { CommandDeps } from './context.js';
import { truncate } from './context.js';
import { explanationOf } from './progress.js';
import { type ChatContext, type Reply, say } from './types.js';

/** Handles `queue`. */
export function queueStatus(deps: CommandDeps, ctx: ChatContext): Reply {
  const mine = deps.queue.jobsOf(ctx.userId);
  const waiting = deps.queue.waitingCount;
  if (mine.length === 0)
    return say(`You have no jobs in progress. ${waiting} job${waiting === 1 ? '' : 's'} waiting overall.`);
  const lines = mine.map(({ job, position }) => {
    const prompt = explanationOf(job);
    return `• ${job.id} ${position === 0 ? `running (${Math.round(job.progress * 100)}%)` : `#${position} in line`} — ${truncate(prompt, 80)}`;
  });
  return say(`Your jobs:\n${lines.join('\n')}`);
}
