/**
 * Smoke test of an installed checkout, as a user starts it: `<npm> start` with the shipped defaults on a
 * free loopback port and a temporary DATA_DIR; the playground must answer, make one image through the
 * HTTP API its page uses, and stop cleanly on SIGTERM. Run from the checkout under test:
 *
 *   node --import tsx test/smoke/playground.ts [npm command…]   (default: npm)
 *
 * test/smoke/fresh-install.sh runs it after a fresh install (`.ci/run` does so with npm 12). On any
 * failure it exits 1 with the reason and flowbot's output; it always stops flowbot and removes DATA_DIR.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { SETTINGS } from '../../src/config.js';

const CHECKOUT = path.resolve(import.meta.dirname, '..', '..');
const START_TIMEOUT_MS = 180_000;
const IMAGE_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 60_000;
const PROMPT = '/imagine a red apple --seed 7';

const EntrySchema = z.object({
  messageId: z.string(),
  text: z.string(),
  jobId: z.string().nullable(),
  image: z.object({ url: z.string() }).nullable(),
});
const HistorySchema = z.object({ entries: z.array(EntrySchema) });
const MessageReplySchema = z.object({
  replies: z.array(
    z.union([
      z.object({ type: z.literal('entry'), entry: EntrySchema }),
      z.object({ type: z.string(), text: z.string().optional() }),
    ]),
  ),
});

/** A failed check; its message is the whole report. */
class SmokeFailure extends Error {}

/** Starts flowbot through the npm command, in its own process group so every process it starts stops. */
function startFlowbot(npm: string[], port: number, dataDir: string): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The shipped defaults: no chat platform, no Redis, no config file from whoever runs CI.
  for (const setting of SETTINGS) delete env[setting.env];
  delete env.FLOWBOT_CONFIG;
  Object.assign(env, { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });
  const [command, ...args] = npm;
  return spawn(command!, [...args, 'start'], {
    cwd: CHECKOUT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Keeps the last 64 kB of the child's output, for the failure report. */
function captureOutput(child: ChildProcess): () => string {
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => output;
}

/** A loopback port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new SmokeFailure('could not reserve a loopback port');
  return address.port;
}

/** Resolves with the playground URL flowbot prints once it listens. */
function playgroundUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(
      () => reject(new SmokeFailure(`no "flowbot playground:" line within ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const match = /flowbot playground: (http:\/\/\S+)/.exec(pending);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new SmokeFailure(`flowbot exited (${code ?? signal}) before its playground listened`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new SmokeFailure(`could not run the npm command: ${error.message}`));
    });
  });
}

async function getOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok)
    throw new SmokeFailure(`GET ${url} answered ${response.status}: ${await response.text()}`);
  return response;
}

/** The page, its history and its stylesheet answer. */
async function checkPlaygroundAnswers(base: string): Promise<void> {
  const page = await getOk(`${base}/`);
  if (!(await page.text()).includes('<html')) throw new SmokeFailure('GET / did not return the page');
  HistorySchema.parse(await (await getOk(`${base}/api/history`)).json());
}

/** Sends a prompt as the page does (same-origin JSON) and returns the id of the job it queued. */
async function queueImage(base: string): Promise<string> {
  const response = await fetch(`${base}/api/message`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ text: PROMPT }),
  });
  if (!response.ok) throw new SmokeFailure(`POST /api/message answered ${response.status}`);
  const { replies } = MessageReplySchema.parse(await response.json());
  for (const reply of replies) if ('entry' in reply && reply.entry.jobId) return reply.entry.jobId;
  throw new SmokeFailure(`"${PROMPT}" queued no job; replies: ${JSON.stringify(replies)}`);
}

/** Polls the history until the job's image is posted, or its error is. */
async function waitForImageUrl(base: string, jobId: string): Promise<string> {
  const deadline = Date.now() + IMAGE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const { entries } = HistorySchema.parse(await (await getOk(`${base}/api/history`)).json());
    const posted = entries.find((e) => e.jobId === jobId && e.image);
    if (posted?.image) return `${base}${posted.image.url}`;
    const ended = entries.find((e) => e.messageId === `e-${jobId}`);
    if (ended) throw new SmokeFailure(`job ${jobId} ended without an image: ${ended.text}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new SmokeFailure(`no image for job ${jobId} within ${IMAGE_TIMEOUT_MS / 1000} s`);
}

/** The image is a PNG that sharp decodes; returns its size. */
async function checkPng(url: string): Promise<string> {
  const response = await getOk(url);
  const type = response.headers.get('content-type');
  if (type !== 'image/png') throw new SmokeFailure(`${url} came back as ${type}, not image/png`);
  const metadata = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
  if (metadata.format !== 'png' || !metadata.width || !metadata.height)
    throw new SmokeFailure(`${url} is not a decodable PNG (${metadata.format})`);
  return `${metadata.width}×${metadata.height}`;
}

/** True while any process of the child's group is alive. */
function groupAlive(child: ChildProcess): boolean {
  try {
    process.kill(-child.pid!, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM to the whole group, as a terminal's Ctrl-C or systemd would send it: every process must be gone in
 * time, and flowbot must not report a failed shutdown. Wrappers such as npx may end by the signal itself, so
 * only a non-zero exit code of the leader counts against it.
 */
async function stopFlowbot(child: ChildProcess, output: () => string): Promise<void> {
  const leaderExit = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  process.kill(-child.pid!, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (groupAlive(child)) {
    if (Date.now() > deadline)
      throw new SmokeFailure(`flowbot did not stop within ${STOP_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const code = await leaderExit;
  if (code !== null && code !== 0)
    throw new SmokeFailure(`${child.spawnfile} exited with ${code} on SIGTERM`);
  if (output().includes('error during shutdown'))
    throw new SmokeFailure('flowbot reported a failed shutdown');
}

/** Kills whatever is left of the group; a group already gone is fine. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const npm = process.argv.length > 2 ? process.argv.slice(2) : ['npm'];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'flowbot-smoke-'));
  const started = performance.now();
  const child = startFlowbot(npm, await freePort(), dataDir);
  const output = captureOutput(child);
  try {
    const base = await playgroundUrl(child);
    await checkPlaygroundAnswers(base);
    console.log(`smoke: ${npm.join(' ')} start: playground at ${base} answered after ${seconds(started)}`);
    const queued = performance.now();
    const size = await checkPng(await waitForImageUrl(base, await queueImage(base)));
    console.log(`smoke: "${PROMPT}" gave a ${size} PNG in ${seconds(queued)}`);
    const stopping = performance.now();
    await stopFlowbot(child, output);
    console.log(`smoke: stopped cleanly in ${seconds(stopping)}`);
  } catch (error) {
    const reason = error instanceof SmokeFailure ? error.message : String(error);
    console.error(`smoke FAILED: ${reason}\n--- flowbot's output ---\n${output()}`);
    process.exitCode = 1;
  } finally {
    killGroup(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
