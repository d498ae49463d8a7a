/**
 * The Redis side of scale-out: connections, key names and the blob store. Only flowbot's own keys are
 * named here; BullMQ keeps its queues under its own `bull:` prefix.
 */
import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

/** How long input and result images stay in Redis: long enough for a front-end restart to collect them. */
export const BLOB_TTL_SECONDS = 24 * 60 * 60;

/** How long a worker's heartbeat is believed; it is renewed three times within it. */
export const HEARTBEAT_TTL_MS = 6000;

/** Key and channel names. */
export const KEYS = {
  /** Sorted set: worker id → the time its heartbeat expires. */
  workers: 'flowbot:workers',
  /** Hash: worker id → its description (JSON). */
  workerInfo: 'flowbot:worker-info',
  /** Pub/sub channel on which cancelled job ids are announced to every worker. */
  cancelChannel: 'flowbot:cancel',
  /** Set while a job is cancelled, so that a worker that was not listening still sees it. */
  cancelled: (jobId: string) => `flowbot:cancelled:${jobId}`,
  blob: (sha256: string) => `flowbot:blob:${sha256}`,
} as const;

/** The BullMQ queue of one worker: jobs with LoRAs go to a worker that has them. */
export function workerQueueName(workerId: string): string {
  return `flowbot-worker-${workerId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** The BullMQ queue of one model folder. Upscales go to their parent's model. */
export function queueNameFor(model: string): string {
  return `flowbot-model-${model}`;
}

/**
 * A new connection. `blocking` connections (BullMQ workers and queue events, subscribers) retry every
 * command until Redis is back; producer connections fail fast, so that the front-end can tell people
 * their job is waiting instead of hanging.
 */
export function connect(url: string, kind: 'blocking' | 'producer'): Redis {
  const options: RedisOptions =
    kind === 'blocking'
      ? { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000 };
  const redis = new Redis(url, {
    ...options,
    lazyConnect: false,
    // Reconnect for ever, at most every 2 s: an outage is waited out, never fatal.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Connection errors are reported by whoever uses the connection; an unhandled 'error' would crash.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Every connection one executor or worker opens, so that closing it closes them all: BullMQ leaves a
 * connection it is given open when it closes.
 */
export class Connections {
  private readonly opened: Redis[] = [];

  constructor(private readonly url: string) {}

  /** A new connection of `kind` (see {@link connect}), closed by {@link disconnectAll}. */
  open(kind: 'blocking' | 'producer'): Redis {
    const redis = connect(this.url, kind);
    this.opened.push(redis);
    return redis;
  }

  /** Disconnects every connection opened here. */
  disconnectAll(): void {
    for (const redis of this.opened.splice(0)) redis.disconnect();
  }
}

/** Content-addressed bytes with a time-to-live: how images travel without a shared filesystem. */
export class BlobStore {
  constructor(private readonly redis: Redis) {}

  /** Stores `bytes` (or refreshes their time-to-live) and returns their key. */
  async put(bytes: Uint8Array): Promise<string> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await this.redis.set(KEYS.blob(sha256), Buffer.from(bytes), 'EX', BLOB_TTL_SECONDS);
    return sha256;
  }

  /** The bytes under `sha256`, checked against it; undefined when they expired or never arrived. */
  async get(sha256: string): Promise<Buffer | undefined> {
    const bytes = await this.redis.getBuffer(KEYS.blob(sha256));
    if (!bytes) return undefined;
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) return undefined;
    return bytes;
  }
}
