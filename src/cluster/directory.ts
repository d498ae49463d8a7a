/**
 * Which image workers are alive: each worker announces itself (its concurrency and models) every
 * {@link HEARTBEAT_TTL_MS}/3, and the front-end reads the announcements that have not expired. Capacity,
 * the sum of the live workers' concurrency, is how many jobs the front-end lets into Redis.
 */
import type { Redis } from 'ioredis';
import { HEARTBEAT_TTL_MS, KEYS } from './redis.js';

/** What a worker tells the front-end about itself. */
export interface WorkerInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly concurrency: number;
  readonly models: string[];
}

/** Announces a worker for the next {@link HEARTBEAT_TTL_MS}. */
export async function announceWorker(redis: Redis, info: WorkerInfo): Promise<void> {
  await redis
    .multi()
    .zadd(KEYS.workers, Date.now() + HEARTBEAT_TTL_MS, info.id)
    .hset(KEYS.workerInfo, info.id, JSON.stringify(info))
    .exec();
}

/** Withdraws a stopping worker at once, rather than when its heartbeat expires. */
export async function withdrawWorker(redis: Redis, id: string): Promise<void> {
  await redis.multi().zrem(KEYS.workers, id).hdel(KEYS.workerInfo, id).exec();
}

/** The live workers as the front-end last counted them. */
export interface WorkerCount {
  readonly workers: WorkerInfo[];
  /** Jobs the live workers run at once. */
  readonly capacity: number;
  /** False when Redis did not answer (then there are no workers to count). */
  readonly reachable: boolean;
}

/** Counts the live workers. Never throws: an unreachable Redis counts as no workers. */
export async function countWorkers(redis: Redis): Promise<WorkerCount> {
  try {
    const now = Date.now();
    await forgetDeadWorkers(redis, now);
    const ids = await redis.zrangebyscore(KEYS.workers, now, '+inf');
    const infos = ids.length > 0 ? await redis.hmget(KEYS.workerInfo, ...ids) : [];
    const workers = infos.flatMap((info) => (info ? [JSON.parse(info) as WorkerInfo] : []));
    return { workers, capacity: workers.reduce((sum, w) => sum + w.concurrency, 0), reachable: true };
  } catch {
    return { workers: [], capacity: 0, reachable: false };
  }
}

/** Drops workers silent for a minute (killed ones never withdraw), so the lists stay small. */
async function forgetDeadWorkers(redis: Redis, now: number): Promise<void> {
  const dead = await redis.zrangebyscore(KEYS.workers, '-inf', now - 60_000);
  if (dead.length === 0) return;
  await redis
    .multi()
    .zrem(KEYS.workers, ...dead)
    .hdel(KEYS.workerInfo, ...dead)
    .exec();
}
