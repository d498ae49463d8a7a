/**
 * Exact edits of one stored image through the real bot, core and queue, in a fresh process, printing
 * figures as JSON. Run by `npm run bench -- edits` (test/bench/edits.ts):
 *
 *   node --import tsx test/bench/edit-peak.ts setup <dataDir> <side>
 *   node --import tsx test/bench/edit-peak.ts burst <dataDir> <edits> <replies,…> <budget MB> <concurrency>
 *   node --import tsx test/bench/edit-peak.ts latency <dataDir> <edits> <reply>
 *
 * `setup` stores a side² image with a chat message to reply to. `burst` sends `edits` replies at once,
 * each from a different person (so no per-person cap applies), cycling through the replies, and waits
 * until every job has finished: its peak RSS is the figure. `latency` sends one reply at a time and
 * times each until its image is stored.
 */
import { createBot } from '../../commands/index.js';
import type { Reply } from '../../commands/types.js';
import { createCore } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { saveImage } from '../../src/jobs.js';
import type { JobQueue } from '../../src/queue/queue.js';
import { FIXTURE_MODELS } from '../helpers/bot.js';

const [command, dataDir, ...rest] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: edit-peak.ts setup|burst|latency <dataDir> …');
const MESSAGE = 'large-image-message';

function open(env: Record<string, string> = {}) {
  const config = loadConfig({
    env: { DATA_DIR: dataDir!, MODELS_DIR: FIXTURE_MODELS, MODEL: 'flow-tiny', LOG_LEVEL: 'error', ...env },
  });
  return createCore(config, { threads: 1, previewEvery: 0 });
}

/** An emoji as an upscale shows it: a shaded disc on a plain backdrop (so a backdrop can be recoloured). */
function picture(side: number) {
  const pixels = new Uint8Array(side * side * 3).fill(245);
  const [centre, radius] = [side / 2, side * 0.35];
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const distance = Math.hypot(x - centre, y - centre);
      if (distance > radius) continue;
      const i = (y * side + x) * 3;
      pixels[i] = 200 + 50 * Math.sin((x * 64) / side);
      pixels[i + 1] = 60 + (distance * 80) / radius;
      pixels[i + 2] = 40 + (y * 60) / side;
    }
  return { width: side, height: side, pixels };
}

async function setup(side: number): Promise<void> {
  const core = open();
  const image = await saveImage(core, picture(side), {
    operation: 'upscale',
    prompt: 'a red apple',
    negativePrompt: '',
    seed: 1,
    steps: 4,
    guidance: 3,
    scheduler: 'flow_euler',
    model: 'flow-tiny',
    parentId: null,
    userId: 'owner',
    cell: null,
  });
  core.store.recordChatMessage({
    platform: 'web',
    channelId: 'general',
    messageId: MESSAGE,
    imageId: image.id,
  });
  await core.close();
  console.log(JSON.stringify({ imageId: image.id }));
}

const replyEvent = (text: string, userId: string, isAdmin = false) => ({
  kind: 'reply' as const,
  text,
  target: { channelId: 'general', messageId: MESSAGE },
  ctx: { platform: 'web' as const, userId, channelId: 'general', isAdmin },
});

async function burst(edits: number, texts: string[], budgetMB: string, concurrency: string): Promise<void> {
  const core = open({ MEMORY_BUDGET_MB: budgetMB, QUEUE_CONCURRENCY: concurrency });
  const bot = createBot(core);
  core.queue.recover();
  global.gc?.();
  const baselineMB = process.memoryUsage().rss / 1e6;
  const start = performance.now();
  const replies = (
    await Promise.all(
      Array.from({ length: edits }, (_, i) =>
        bot.handle(replyEvent(texts[i % texts.length]!, `member-${i}`)),
      ),
    )
  ).flat();
  await core.queue.onIdle();
  const ms = performance.now() - start;
  const counted = (type: Reply['type']) => replies.filter((reply) => reply.type === type).length;
  const succeeded = replies.filter(
    (reply) => reply.type === 'queued' && core.store.getJob(reply.jobId)?.state === 'succeeded',
  ).length;
  await core.close();
  console.log(
    JSON.stringify({
      edits,
      answeredAtOnce: counted('image'),
      queued: counted('queued'),
      refused: counted('text'),
      succeeded,
      ms: Math.round(ms),
      baselineMB: Math.round(baselineMB),
      peakRssMB: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6),
    }),
  );
}

/** Resolves when a job has succeeded or failed. */
function finished(queue: JobQueue, jobId: string): Promise<void> {
  return new Promise((resolve) => {
    const settle = (job: { id: string }) => {
      if (job.id !== jobId) return;
      queue.off('succeeded', settle);
      queue.off('failed', settle);
      resolve();
    };
    queue.on('succeeded', settle);
    queue.on('failed', settle);
  });
}

async function latency(edits: number, text: string): Promise<void> {
  const core = open();
  const bot = createBot(core);
  core.queue.recover();
  const times: number[] = [];
  for (let i = 0; i < edits; i++) {
    const start = performance.now();
    const [reply] = await bot.handle(replyEvent(text, 'owner', true));
    if (reply?.type === 'queued') await finished(core.queue, reply.jobId);
    times.push(performance.now() - start);
  }
  await core.close();
  times.sort((a, b) => a - b);
  const at = (p: number) =>
    Number(times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(1));
  console.log(JSON.stringify({ edits, medianMs: at(0.5), p95Ms: at(0.95) }));
}

if (command === 'setup') await setup(Number(rest[0] ?? 4096));
else if (command === 'burst')
  await burst(Number(rest[0] ?? 48), (rest[1] ?? 'darker').split(','), rest[2] ?? '2048', rest[3] ?? '1');
else if (command === 'latency') await latency(Number(rest[0] ?? 20), rest[1] ?? 'darker');
else throw new Error(`unknown command ${command}`);
