/**
 * Fairness between people: a lane keeps each user's waiting jobs in order and serves the users in turn,
 * one job each, in the order they began waiting. The job queue has two lanes (cheap jobs first).
 */
import type { JobRecord } from '../store/store.js';

/** Round-robin lanes: per user FIFO lists, users served in turn. */
export class FairLane {
  private readonly byUser = new Map<string, JobRecord[]>();
  /** Users with waiting jobs, in the order they will next be served. */
  private readonly turn: string[] = [];

  get size(): number {
    let total = 0;
    for (const list of this.byUser.values()) total += list.length;
    return total;
  }

  /** Waiting jobs of one user. */
  countOf(userId: string): number {
    return this.byUser.get(userId)?.length ?? 0;
  }

  push(job: JobRecord): void {
    const list = this.byUser.get(job.userId);
    if (list) list.push(job);
    else {
      this.byUser.set(job.userId, [job]);
      this.turn.push(job.userId);
    }
  }

  shift(): JobRecord | undefined {
    const user = this.turn.shift();
    if (user === undefined) return undefined;
    const list = this.byUser.get(user)!;
    const job = list.shift()!;
    if (list.length > 0) this.turn.push(user);
    else this.byUser.delete(user);
    return job;
  }

  remove(jobId: string): JobRecord | undefined {
    for (const [user, list] of this.byUser) {
      const index = list.findIndex((job) => job.id === jobId);
      if (index === -1) continue;
      const [job] = list.splice(index, 1);
      if (list.length === 0) {
        this.byUser.delete(user);
        this.turn.splice(this.turn.indexOf(user), 1);
      }
      return job;
    }
    return undefined;
  }

  /** The order in which waiting jobs would be dispatched if nothing else arrived. */
  order(): JobRecord[] {
    const lists = this.turn.map((user) => [...this.byUser.get(user)!]);
    const out: JobRecord[] = [];
    while (lists.some((list) => list.length > 0)) {
      for (const list of lists) {
        const job = list.shift();
        if (job) out.push(job);
      }
    }
    return out;
  }

  clear(): JobRecord[] {
    const all = this.order();
    this.byUser.clear();
    this.turn.length = 0;
    return all;
  }
}
