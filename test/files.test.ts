import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore, sha256, writeFileAtomic } from '../src/store/files.js';
import { exited, spawnTs, waitForLine } from './helpers/spawn.js';
import { sleep, tempDir } from './helpers/tmp.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function dir(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('atomic files', () => {
  it('stores content by its sha256 once', async () => {
    const files = new FileStore(dir());
    const data = Buffer.from('hello');
    const first = await files.save('images', data);
    const second = await files.save('images', data);
    expect(first).toEqual(second);
    expect(first.relativePath).toBe(`images/${sha256(data)}.png`);
    expect(await files.read(first.relativePath)).toEqual(data);
    expect(() => files.resolve('../outside')).toThrow(/escapes/);
  });

  it('leaves no temporary file behind and replaces whole files', async () => {
    const root = dir();
    const target = path.join(root, 'a', 'file.bin');
    await writeFileAtomic(target, Buffer.from('one'));
    await writeFileAtomic(target, Buffer.from('two'));
    expect(readFileSync(target, 'utf8')).toBe('two');
    expect(readdirSync(path.dirname(target))).toEqual(['file.bin']);
  });

  it('never exposes a half-written file when the writer is killed mid-write', async () => {
    const root = dir();
    const target = path.join(root, 'images', 'target.bin');
    for (const delay of [30, 90, 170, 260]) {
      const child = spawnTs('test/helpers/atomic-writer.ts', [target]);
      await waitForLine(child, (line) => line === 'ready');
      await sleep(delay);
      child.kill('SIGKILL');
      await exited(child);
      if (!existsSync(target)) continue;
      const content = readFileSync(target);
      expect(content.length).toBe(4 * 1024 * 1024);
      expect(content.every((byte) => byte === content[0])).toBe(true);
    }
    expect(existsSync(target)).toBe(true);
    // A crash can leave temporary files; start-up sweeps them.
    writeFileSync(path.join(root, 'images', '.tmp-123-abc'), 'partial');
    const files = new FileStore(root);
    expect(files.sweepTemporaryFiles()).toBeGreaterThanOrEqual(1);
    expect(readdirSync(path.join(root, 'images'))).toEqual(['target.bin']);
  });
});
