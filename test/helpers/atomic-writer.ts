/** Child process for the atomic-write test: rewrites one file forever with uniform 4 MiB buffers. */
import { writeFileAtomic } from '../../src/store/files.js';

const target = process.argv[2]!;
let round = 0;
process.stdout.write('ready\n');
for (;;) {
  round = (round + 1) % 250;
  await writeFileAtomic(target, Buffer.alloc(4 * 1024 * 1024, round + 1));
}
