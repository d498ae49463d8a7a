/**
 * Which image workers are alive: each worker announces itself (its concurrency and models) every
 * {@link HEARTBEAT_TTL_MS}/3, and the front-end reads the announcements that have not expired. Capacity,
 * the sum of the live workers' concurrency, is how many jobs the front-end lets into Redis.
 *
 * Announcements are read like any input: one that does not fit {@link workerInfoSchema} is left out of
 * the count and reported, never trusted (a concurrency of "two" once became the queue's concurrency).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { MAX_WORKER_CONCURRENCY } from '../config.js';
import { loraNameSchema, modelNameSchema } from '../job-params.js';
import { createLogger } from '../log.js';
import { HEARTBEAT_TTL_MS, KEYS } from './redis.js';

const log = createLogger('dispatcher');

/** What a worker tells the front-end about itself, as the front-end accepts it. */
export const workerInfoSchema = z.object({
  id: z.string().min(1).max(256),
  host: z.string().max(256),
  pid: z.number().int().nonnegative(),
  concurrency: z.number().int().min(1).max(MAX_WORKER_CONCURRENCY),
  models: z.array(modelNameSchema).max(1000),
  /** The LoRA names it has for each of its models (its own `loras/` and the shared ones). */
  loras: z.record(modelNameSchema, z.array(loraNameSchema).max(1000)).optional(),
  /** The model + LoRA sets it merged most recently ({@link loraSetKey}): their sessions are warm. */
  merged: z.array(z.string().max(2000)).max(64).optional(),
});

/** A model and its LoRAs with their weights, as workers announce the merged sessions they hold. */
export function loraSetKey(model: string, loras: readonly { name: string; weight: number }[]): string {
  return `${model}|${loras
    .filter((l) => l.weight !== 0)
    .map((l) => `${l.name}@${l.weight}`)
    .join(',')}`;
}

/** What a worker tells the front-end about itself. */
export type WorkerInfo = z.infer<typeof workerInfoSchema>;

/** An announcement left out of the count, and why. */
export interface MalformedHeartbeat {
  readonly id: string;
  readonly problem: string;
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
  /** Live announcements that were left out because they do not fit {@link workerInfoSchema}. */
  readonly malformed: MalformedHeartbeat[];
}

/** Counts the live workers. Never throws: an unreachable Redis counts as no workers. */
export async function countWorkers(redis: Redis): Promise<WorkerCount> {
  let ids: string[];
  let infos: (string | null)[];
  try {
    const now = Date.now();
    await forgetDeadWorkers(redis, now);
    ids = await redis.zrangebyscore(KEYS.workers, now, '+inf');
    infos = ids.length > 0 ? await redis.hmget(KEYS.workerInfo, ...ids) : [];
  } catch {
    return { workers: [], capacity: 0, reachable: false, malformed: [] };
  }
  const workers: WorkerInfo[] = [];
  const malformed: MalformedHeartbeat[] = [];
  ids.forEach((id, i) => {
    const info = infos[i];
    // No description: the worker is withdrawing at this moment.
    if (info === null || info === undefined) return;
    const read = readAnnouncement(id, info);
    if (typeof read === 'string') malformed.push({ id, problem: read });
    else workers.push(read);
  });
  return {
    workers,
    capacity: workers.reduce((sum, w) => sum + w.concurrency, 0),
    reachable: true,
    malformed,
  };
}

/** One worker's announcement, validated; what is wrong with it otherwise. */
function readAnnouncement(id: string, text: string): WorkerInfo | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const parsed = workerInfoSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `${issue?.path.join('.') || 'announcement'}: ${issue?.message ?? 'invalid'}`;
  }
  // Otherwise one worker could be counted under several names.
  if (parsed.data.id !== id) return 'its id is not the one it is listed under';
  return parsed.data;
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

/** Logs each malformed announcement once while it lasts, rather than at every count. */
export class MalformedHeartbeatLog {
  private reported = new Set<string>();

  /** Logs the announcements in `malformed` not logged at the previous count. */
  report(malformed: readonly MalformedHeartbeat[]): void {
    const current = new Set<string>();
    for (const { id, problem } of malformed) {
      const key = JSON.stringify([id, problem]);
      current.add(key);
      if (this.reported.has(key)) continue;
      log.warn('ignored a malformed image worker heartbeat', {
        worker: JSON.stringify(id.slice(0, 80)),
        problem: JSON.stringify(problem),
      });
    }
    this.reported = current;
  }
}
