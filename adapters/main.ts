/**
 * `npm start`: loads the configuration, opens the core, resumes unfinished jobs and starts the chat
 * adapters whose credentials are set. SIGINT/SIGTERM shut down gracefully.
 */
import { createCore } from '../src/app.js';
import { type Config, describeConfig, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createLogger, setLogLevel } from '../src/log.js';

const log = createLogger('main');

function readConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`flowbot: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const config = readConfigOrExit();
  setLogLevel(config.logLevel);
  log.info('starting flowbot', describeConfig(config));
  const core = createCore(config);
  const { resumed, failed } = core.queue.recover();
  log.info('job queue ready', { resumed: resumed.length, failedOnRecovery: failed.length });

  // Keeps the process alive while the core waits for work; adapters hold their own sockets open.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    log.info('shutting down; running jobs get a grace period, queued jobs resume at next start', { signal });
    core.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('error during shutdown', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  log.warn('no chat adapter is available in this build yet; the core is running and waiting for jobs');
}

main().catch((error: unknown) => {
  log.error('flowbot failed to start', { error });
  process.exit(1);
});
