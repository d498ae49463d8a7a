/**
 * `npm run bench -- peers`: one 512×512 image, 4 steps, guidance 7.5, 2 threads, on a full-size SD 1.5
 * (random weights, exported by optimum) three ways — flowbot end to end, diffusers'
 * StableDiffusionPipeline on PyTorch CPU, and optimum's ORTStableDiffusionPipeline on the same export —
 * each in its own process, one after another, so each peak RSS is that system's own. Every system keeps
 * the folder's own scheduler (PNDM, as SD 1.5 ships it). The folder is made once by
 * `npm run conformance:make -- peers` (~8 GB, git-ignored); without it the group says so and skips.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { BenchResult } from './queue.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const conformance = path.join(root, 'test', 'conformance');
const exported = path.join(conformance, 'peers', 'sd15-full');
const saved = path.join(conformance, 'peers', 'sd15-full-diffusers');
const python = path.join(conformance, '.venv', 'bin', 'python');
const RUN = { steps: 4, guidance: 7.5, width: 512, height: 512, threads: 2 };
const PROMPT = 'a lighthouse on a cliff at dusk';

const figuresSchema = z.object({
  system: z.string(),
  scheduler: z.string(),
  load_s: z.number(),
  generate_s: z.number(),
  step_s: z.number(),
  peak_rss_mb: z.number(),
  /** flowbot only: seconds in the text encoder, the denoising loop and the VAE decode. */
  stages: z.record(z.string(), z.number()).optional(),
});
type PeerFigures = z.infer<typeof figuresSchema>;

/** Runs one system in a child process and parses the JSON line it ends with. */
function runPeer(command: string, args: string[]): PeerFigures {
  const output = execFileSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ONNX_THREADS: String(RUN.threads), OMP_NUM_THREADS: String(RUN.threads) },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const last = output.trim().split('\n').at(-1) ?? '';
  return figuresSchema.parse(JSON.parse(last));
}

function runAll(): { rows: PeerFigures[]; flowbotStages: unknown } {
  const shape = [RUN.steps, RUN.guidance, RUN.width, RUN.height].map(String);
  const flowbotChild = path.join(root, 'test', 'bench', 'peers-child.ts');
  const peerScript = path.join(conformance, 'peer_run.py');
  const flowbot = runPeer(process.execPath, ['--import', 'tsx', flowbotChild, exported, ...shape, PROMPT]);
  const rows = [
    flowbot,
    runPeer(python, [peerScript, 'diffusers', saved, ...shape, String(RUN.threads), PROMPT]),
    runPeer(python, [peerScript, 'optimum', exported, ...shape, String(RUN.threads), PROMPT]),
  ];
  return { rows, flowbotStages: flowbot.stages };
}

const seconds = (value: number) => value.toFixed(2);
const ratio = (a: number, b: number) => (a / b).toFixed(3);

function table(rows: PeerFigures[]): string {
  const lines = [
    `${'system'.padEnd(10)} ${'scheduler'.padEnd(16)} ${'s/step'.padStart(7)} ${'load s'.padStart(7)} ${'gen s'.padStart(7)} ${'e2e s'.padStart(7)} ${'peak RSS MB'.padStart(12)}`,
  ];
  for (const r of rows)
    lines.push(
      `${r.system.padEnd(10)} ${r.scheduler.slice(0, 16).padEnd(16)} ${seconds(r.step_s).padStart(7)} ${seconds(r.load_s).padStart(7)} ${seconds(r.generate_s).padStart(7)} ${seconds(r.load_s + r.generate_s).padStart(7)} ${Math.round(r.peak_rss_mb).toString().padStart(12)}`,
    );
  return lines.join('\n');
}

/** The peers group: figures per system and flowbot's ratios against each peer. */
export async function benchPeers(): Promise<BenchResult> {
  const name = `peers: SD 1.5 full size (random weights), ${RUN.width}×${RUN.height}, ${RUN.steps} steps, guidance ${RUN.guidance}, ${RUN.threads} threads`;
  if (
    !existsSync(path.join(exported, 'model_index.json')) ||
    !existsSync(path.join(saved, 'model_index.json'))
  )
    return {
      name,
      figures: { skipped: `no folder at ${exported}; make it with npm run conformance:make -- peers` },
    };
  if (!existsSync(python))
    return { name, figures: { skipped: `no venv at ${python}; npm run conformance:make makes it` } };
  const { rows, flowbotStages } = runAll();
  console.log(`\n${table(rows)}`);
  console.log(`flowbot's generate: ${JSON.stringify(flowbotStages)}`);
  const [flowbot, diffusers, optimum] = rows as [PeerFigures, PeerFigures, PeerFigures];
  const e2e = (r: PeerFigures) => r.load_s + r.generate_s;
  const figures: Record<string, number | string> = {};
  for (const r of rows) {
    figures[`${r.system} s/step`] = Number(r.step_s.toFixed(2));
    figures[`${r.system} e2e s`] = Number(e2e(r).toFixed(2));
    figures[`${r.system} peak RSS MB`] = Math.round(r.peak_rss_mb);
  }
  for (const peer of [diffusers, optimum]) {
    figures[`flowbot/${peer.system} e2e`] = ratio(e2e(flowbot), e2e(peer));
    figures[`flowbot/${peer.system} s/step`] = ratio(flowbot.step_s, peer.step_s);
    figures[`flowbot/${peer.system} RSS`] = ratio(flowbot.peak_rss_mb, peer.peak_rss_mb);
  }
  return { name, figures };
}
