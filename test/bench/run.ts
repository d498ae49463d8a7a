/**
 * `npm run bench`: runs every benchmark in one process and prints its figures. Speed is reported here,
 * as figures and ratios taken in one run, never asserted in tests. `npm run bench -- scale-out` (or
 * `queue`, `pipeline`, `blocklist`, `edits`, `intake`, `encoder`, `chaos`, `draft`, `moderation`, `peers`,
 * `repaint`, `lora`) runs one group.
 */
import os from 'node:os';
import { benchBlocklist } from './blocklist.js';
import { benchChaos, benchDraft } from './chaos.js';
import { benchCluster } from './cluster.js';
import { benchEditLatency, benchEditMemory } from './edits.js';
import { encoderBenches } from './encoder.js';
import { benchIntake } from './intake.js';
import { benchLora } from './lora.js';
import { benchModeration } from './moderation.js';
import { benchPeers } from './peers.js';
import { pipelineBenches } from './pipeline.js';
import { type BenchResult, benchQueue } from './queue.js';
import { repaintBenches } from './repaint.js';

const groups: Record<string, (() => Promise<BenchResult>)[]> = {
  queue: [() => benchQueue(1000)],
  pipeline: pipelineBenches(),
  'scale-out': [() => benchCluster(24)],
  blocklist: [benchBlocklist],
  edits: [benchEditLatency, benchEditMemory],
  intake: [benchIntake],
  encoder: encoderBenches(),
  chaos: [benchChaos],
  draft: [benchDraft],
  moderation: [benchModeration],
  peers: [benchPeers],
  repaint: repaintBenches(),
  lora: [benchLora],
};
const only = process.argv[2];
if (only && !groups[only]) {
  console.error(`Unknown bench group "${only}"; expected one of: ${Object.keys(groups).join(', ')}`);
  process.exit(2);
}
// peers runs three full-size SD 1.5 pipelines (minutes, ~8 GB of folders): only when named.
const namedOnly = new Set(['peers']);
const benches = only
  ? groups[only]!
  : Object.entries(groups).flatMap(([group, list]) => (namedOnly.has(group) ? [] : list));

console.log(
  `flowbot bench · node ${process.version} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
);
for (const bench of benches) {
  const result = await bench();
  console.log(`\n${result.name}`);
  for (const [key, value] of Object.entries(result.figures)) console.log(`  ${key.padEnd(24)} ${value}`);
}
