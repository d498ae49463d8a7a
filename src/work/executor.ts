/**
 * Where work orders are computed. In-process by default ({@link LocalExecutor}); with `REDIS_URL`, on
 * BullMQ workers ({@link import('../cluster/dispatcher.js').RedisExecutor}). The job queue does not know
 * which: it hands every order to the executor it was built with.
 */
import type { JobContext } from '../queue/queue.js';
import { type ComputeDeps, computeWork } from './compute.js';
import type { WorkOrder, WorkResult } from './order.js';

/** Computes work orders somewhere and returns their images. */
export interface WorkExecutor {
  /** Computes one order. Rejects when the job fails, or with the signal's reason when it is aborted. */
  run(order: WorkOrder, context: JobContext): Promise<WorkResult>;
  /** Stops; work that is not finished stays where it is (in Redis) or is resumed at the next start. */
  close(): Promise<void>;
}

/** Computes orders in this process, on its own pipeline. */
export class LocalExecutor implements WorkExecutor {
  constructor(private readonly deps: ComputeDeps) {}

  run(order: WorkOrder, context: JobContext): Promise<WorkResult> {
    return computeWork(order, this.deps, context);
  }

  async close(): Promise<void> {}
}
