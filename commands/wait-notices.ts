/** What people are told while their job waits, in the command layer's words (src/ gives only the reason). */
import type { WaitReason } from '../src/queue/queue.js';

export type { WaitReason };

const NOTICES: Record<WaitReason, string> = {
  'redis-unreachable':
    'The image queue is unreachable right now. Your job is saved and will start as soon as it is back.',
  'no-worker': 'No image worker is running right now. Your job is saved and starts as soon as one connects.',
  'worker-stalled': 'The worker running your job stopped; it will run again on another worker.',
};

/** The words for why a job waits. */
export function waitNotice(reason: WaitReason): string {
  return NOTICES[reason];
}
