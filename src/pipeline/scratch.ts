/**
 * Scratch folders for rewritten sessions (LoRA merges): inside the model's folder, because ONNX Runtime
 * reads external data only from there, and removed once the session exists.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../log.js';

const log = createLogger('onnx');

/** Scratch folders are named so; one older than a day was left by a process that died creating a session. */
const SCRATCH_PREFIX = '.flowbot-session-';
const STALE_SCRATCH_MS = 24 * 3600_000;

/**
 * A fresh folder for one rewritten session inside the model's folder, or undefined where that folder is
 * not writable (the rewrite then keeps everything in the model's bytes). Stale ones are cleared first.
 */
export async function scratchFolder(file: string): Promise<string | undefined> {
  const beside = path.dirname(path.resolve(file));
  try {
    for (const entry of await readdir(beside, { withFileTypes: true })) {
      if (!entry.isDirectory() || !entry.name.startsWith(SCRATCH_PREFIX)) continue;
      const stale = Date.now() - (await stat(path.join(beside, entry.name))).mtimeMs > STALE_SCRATCH_MS;
      if (stale) await rm(path.join(beside, entry.name), { recursive: true, force: true });
    }
    return await mkdtemp(path.join(beside, SCRATCH_PREFIX));
  } catch (error) {
    log.debug('no scratch folder beside the model; rewritten weights stay in its bytes', {
      folder: beside,
      reason: (error as NodeJS.ErrnoException).code ?? String(error),
    });
    return undefined;
  }
}
