/**
 * `npm run worker`: one image worker for scale-out. It needs `REDIS_URL` and the model folders under
 * `MODELS_DIR`; it keeps no store. SIGTERM or SIGINT: it finishes the jobs in hand, then exits.
 */
import { createCompute } from '../app.js';
import { ImageWorker } from '../cluster/worker.js';
import { loadConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { createLogger, setLogLevel } from '../log.js';
import { workerLimits } from '../work/limits.js';

const log = createLogger('worker');

async function main(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.logLevel);
  if (!config.redisUrl) {
    throw new ConfigError(
      'Missing environment variable REDIS_URL: expected a redis:// URL for `npm run worker` (the Redis that `npm start` uses)',
    );
  }
  const { backend, pipeline, models } = createCompute(config);
  const worker = new ImageWorker(
    { pipeline, models },
    {
      redisUrl: config.redisUrl,
      concurrency: config.workerConcurrency,
      lockSeconds: config.workerLockSeconds,
      limits: workerLimits(config),
    },
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping: finishing the jobs in hand', { signal, active: worker.activeCount });
    worker
      .close()
      .then(() => backend.dispose())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error('error while stopping', { error });
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await worker.start();
  process.stdout.write(
    `flowbot worker ${worker.info.id} ready: ${worker.info.models.join(', ') || 'no models'} · ${config.workerConcurrency} at a time\n`,
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`flowbot worker: ${error.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  log.error('worker failed to start', { error });
  process.exit(1);
});
