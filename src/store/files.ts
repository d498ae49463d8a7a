/**
 * Image and mask files under the data directory. Files are named by the sha256 of their content and
 * written atomically: to a temporary file in the same directory, flushed, then renamed into place. A
 * crash can leave a stray temporary file but never a half-written file under a final name, and the
 * database only learns of a file after the rename.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

/** Hex sha256 of a buffer. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes `data` to `target` atomically (temporary file, fsync, rename, fsync of the directory). */
export async function writeFileAtomic(target: string, data: Uint8Array): Promise<void> {
  const directory = path.dirname(target);
  await fs.mkdir(directory, { recursive: true });
  const temporary = path.join(directory, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(temporary, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  // Persist the rename itself; without this a power cut may forget the new directory entry.
  const dirHandle = await fs.open(directory, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** A file saved by content. */
export interface StoredFile {
  /** Path relative to the data directory, as recorded in the database. */
  readonly relativePath: string;
  readonly absolutePath: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** Content-addressed file storage rooted at the data directory. */
export class FileStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir);
    for (const sub of ['images', 'masks']) mkdirSync(path.join(this.root, sub), { recursive: true });
  }

  /**
   * Saves bytes under `<kind>/<sha256>.<extension>`. Identical content is stored once; saving it again
   * is a cheap no-op.
   */
  async save(kind: 'images' | 'masks', data: Uint8Array, extension = 'png'): Promise<StoredFile> {
    const digest = sha256(data);
    const relativePath = path.posix.join(kind, `${digest}.${extension}`);
    const absolutePath = path.join(this.root, relativePath);
    const existing = statSync(absolutePath, { throwIfNoEntry: false });
    if (!existing || existing.size !== data.byteLength) await writeFileAtomic(absolutePath, data);
    return { relativePath, absolutePath, sha256: digest, bytes: data.byteLength };
  }

  /** Absolute path of a recorded relative path. */
  resolve(relativePath: string): string {
    const absolute = path.resolve(this.root, relativePath);
    if (!absolute.startsWith(this.root + path.sep))
      throw new Error(`Path escapes the data directory: ${relativePath}`);
    return absolute;
  }

  /** Reads a recorded file. */
  read(relativePath: string): Promise<Buffer> {
    return fs.readFile(this.resolve(relativePath));
  }

  /** Removes temporary files left by a crash in the middle of a write. */
  sweepTemporaryFiles(): number {
    let removed = 0;
    for (const sub of ['images', 'masks']) {
      const directory = path.join(this.root, sub);
      for (const name of readdirSync(directory)) {
        if (name.startsWith('.tmp-')) {
          rmSync(path.join(directory, name), { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}
