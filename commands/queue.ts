/** `queue`: your jobs and their places in line. */
import type { CommandDeps } from './context.js';
import { truncate } from './context.js';
import { explanationOf } from './progress.js';
import { type ChatContext, type Reply, say } from './types.js';

/** With Redis, a line on the image workers: how many, or why nothing runs. */
function workersLine(deps: CommandDeps): string {
  const workers = deps.workers?.();
  if (!workers) return '';
  if (!workers.redisReachable)
    return '\nThe image queue is unreachable right now; jobs wait and start when it is back.';
  if (workers.live === 0) return '\nNo image worker is running right now; jobs wait until one connects.';
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `\n${plural(workers.live, 'image worker')} online, ${plural(workers.capacity, 'job')} at a time.`;
}

/** Handles `queue`. */
export function queueStatus(deps: CommandDeps, ctx: ChatContext): Reply {
  const mine = deps.queue.jobsOf(ctx.userId);
  const waiting = deps.queue.waitingCount;
  if (mine.length === 0)
    return say(
      `You have no jobs in progress. ${waiting} job${waiting === 1 ? '' : 's'} waiting overall.${workersLine(deps)}`,
    );
  const lines = mine.map(({ job, position }) => {
    const prompt = explanationOf(job);
    return `• ${job.id} ${position === 0 ? `running (${Math.round(job.progress * 100)}%)` : `#${position} in line`} — ${truncate(prompt, 80)}`;
  });
  return say(`Your jobs:\n${lines.join('\n')}${workersLine(deps)}`);
}
