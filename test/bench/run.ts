/**
 * `npm run bench`: runs every benchmark in one process and prints its figures. Speed is reported here,
 * as figures and ratios taken in one run, never asserted in tests.
 */
import os from 'node:os';
import { pipelineBenches } from './pipeline.js';
import { type BenchResult, benchQueue } from './queue.js';

const benches: (() => Promise<BenchResult>)[] = [() => benchQueue(1000), ...pipelineBenches()];

console.log(
  `flowbot bench · node ${process.version} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
);
for (const bench of benches) {
  const result = await bench();
  console.log(`\n${result.name}`);
  for (const [key, value] of Object.entries(result.figures)) console.log(`  ${key.padEnd(24)} ${value}`);
}
