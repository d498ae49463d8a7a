/**
 * Starting a chat adapter without waiting on its platform: the attempt runs in the background and, when
 * the platform can't be reached, is retried with exponential backoff (and logged) until it connects or
 * the process stops. The playground, the queue and the other adapters never wait for it.
 */
import type { Logger } from '../src/log.js';

/** Options of {@link keepTrying}. */
export interface RetryOptions {
  readonly log: Logger;
  /** Stops retrying (shutdown). */
  readonly signal: AbortSignal;
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Cleans up a failed attempt before the next one. */
  readonly reset?: () => Promise<void>;
}

/** Runs `attempt` until it succeeds, waiting 1 s, 2 s, 4 s … (at most a minute) between failures. */
export function keepTrying(name: string, attempt: () => Promise<void>, options: RetryOptions): Promise<void> {
  const first = options.firstDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 60_000;
  return (async () => {
    for (let failures = 0; !options.signal.aborted; failures++) {
      try {
        await attempt();
        if (failures > 0) options.log.info(`${name} connected after ${failures} failed attempts`);
        return;
      } catch (error) {
        const delay = Math.min(max, first * 2 ** failures);
        options.log.warn(`${name} could not connect; retrying`, {
          inSeconds: delay / 1000,
          error: (error as Error)?.message ?? String(error),
        });
        await options.reset?.().catch(() => undefined);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          options.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
  })();
}
