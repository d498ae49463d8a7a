/**
 * The front-end of the scale-out tests, in its own process so that it can be killed and restarted: the
 * real core (`createCore`, as `npm start` builds it) on the configuration from the environment. It
 * prints one JSON line per queue event and takes commands as JSON lines on stdin:
 * `{"op":"enqueue","user":"a","params":{…}}`, `{"op":"cancel","job":"…"}` and `{"op":"close"}`.
 */
import { createInterface } from 'node:readline';
import { createCore } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

const core = createCore(loadConfig(), { previewEvery: 2 });
const { queue } = core;
const print = (value: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(value)}\n`);

queue.on('queued', (job, position) => print({ event: 'queued', job: job.id, user: job.userId, position }));
queue.on('started', (job) => print({ event: 'started', job: job.id, user: job.userId }));
queue.on('progress', (job, p) =>
  print({ event: 'progress', job: job.id, step: p.step, total: p.total, preview: Boolean(p.preview) }),
);
queue.on('succeeded', (job, result) => print({ event: 'succeeded', job: job.id, user: job.userId, result }));
queue.on('failed', (job) => print({ event: 'failed', job: job.id, error: job.error }));
queue.on('cancelled', (job) => print({ event: 'cancelled', job: job.id }));
queue.on('notice', (job, reason) => print({ event: 'notice', job: job.id, reason }));

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const command = JSON.parse(line) as { op: string; user?: string; params?: unknown; job?: string };
  if (command.op === 'enqueue') {
    const result = queue.enqueue({ kind: 'generate', userId: command.user!, params: command.params });
    print(
      result.ok
        ? { event: 'enqueued', job: result.value.job.id }
        : { event: 'refused', error: result.error.message },
    );
  } else if (command.op === 'close') {
    // Closes everything and then waits: the process ends by itself only if nothing is left open.
    commands.close();
    process.stdin.destroy();
    void core.close().then(() => print({ event: 'closed' }));
  } else if (command.op === 'cancel') {
    const result = queue.cancel(command.job!, 'admin', true);
    print({ event: 'cancel', job: command.job, ok: result.ok });
  }
});

const stop = () => void core.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const { resumed } = queue.recover();
print({ event: 'ready', resumed: resumed.map((job) => job.id) });
