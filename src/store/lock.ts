/**
 * One flowbot per data directory. Two processes on one `DATA_DIR` would both resume the same unfinished
 * jobs, sweep each other's in-flight temporary files and record each other's results, so start-up takes
 * this lock before it touches anything there, and a second process stops with the first one's PID.
 *
 * The lock is the kernel's: an exclusive SQLite lock (a POSIX record lock, `fcntl`) held on
 * `flowbot.lock` for as long as the process lives. The kernel drops it when the process ends however
 * it ends (SIGKILL, OOM, power loss on a local disk), so a stale lock cannot outlive its holder, a
 * reused PID cannot keep one alive, and no two processes can both decide to take over a stale one.
 * A PID file alone has all three problems. Who holds the lock is written next to it, in
 * `flowbot.lock.json`, for the message a second process prints; that file is only ever advice.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ErrorCode, FlowbotError } from '../errors.js';
import { createLogger } from '../log.js';

const log = createLogger('lock');

/** The file whose kernel lock is held (an empty SQLite database). */
export const LOCK_FILE = 'flowbot.lock';
/** Who holds the lock: for the second process's message and for people. */
export const HOLDER_FILE = 'flowbot.lock.json';

const holderSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string().max(255),
  startedAt: z.string().max(64),
  port: z.number().int().min(0).max(65_535).optional(),
});

/** The process holding a data directory, as it described itself. */
export type LockHolder = z.infer<typeof holderSchema>;

/** Another process holds the data directory. */
export class DataDirLockedError extends FlowbotError {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(ErrorCode.DataDirLocked, lockedMessage(dataDir, holder));
    this.name = 'DataDirLockedError';
  }
}

function lockedMessage(dataDir: string, holder: LockHolder | undefined): string {
  const who = holder
    ? `flowbot (PID ${holder.pid} on ${holder.host}, started ${holder.startedAt}${holder.port ? `, playground port ${holder.port}` : ''})`
    : 'flowbot process (its PID could not be read)';
  return `Another ${who} is already using the data directory ${dataDir}. Stop it first, or give this one its own DATA_DIR.`;
}

/** What this process says about itself in the holder file. */
export interface LockOptions {
  /** The playground's port, so that people can tell two instances apart. */
  readonly port?: number;
}

/** The exclusive lock on a data directory, held until {@link release}. */
export class DataDirLock {
  private released = false;

  private constructor(
    readonly dataDir: string,
    private readonly db: Database.Database,
    private readonly holder: LockHolder,
  ) {}

  /**
   * Takes the lock, or throws {@link DataDirLockedError} naming the process that has it. Never waits:
   * a second flowbot should stop at once, not hang until the first one ends.
   */
  static acquire(dataDir: string, options: LockOptions = {}): DataDirLock {
    const root = path.resolve(dataDir);
    mkdirSync(root, { recursive: true });
    const db = new Database(path.join(root, LOCK_FILE), { timeout: 0 });
    try {
      // In exclusive locking mode SQLite keeps the lock it takes until the connection closes.
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE; COMMIT;');
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY')
        throw new DataDirLockedError(root, readHolderPatiently(root));
      throw error;
    }
    const previous = readHolder(root);
    if (previous) {
      // The kernel released that lock, so its holder is gone: it was killed or crashed.
      log.warn('took over the data directory from a flowbot that ended without releasing it', {
        dataDir: root,
        previousPid: previous.pid,
        previousHost: previous.host,
        previousStart: previous.startedAt,
      });
    }
    const holder: LockHolder = {
      pid: process.pid,
      host: os.hostname(),
      startedAt: new Date().toISOString(),
      ...(options.port !== undefined ? { port: options.port } : {}),
    };
    writeHolder(root, holder);
    return new DataDirLock(root, db, holder);
  }

  /** Releases the lock (the holder file first, so that it never names the next holder wrongly). */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (readHolder(this.dataDir)?.pid === this.holder.pid) rmSync(holderPath(this.dataDir), { force: true });
    this.db.close();
  }
}

function holderPath(root: string): string {
  return path.join(root, HOLDER_FILE);
}

/** Written whole or not at all: to a temporary name, then renamed. */
function writeHolder(root: string, holder: LockHolder): void {
  const temporary = `${holderPath(root)}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(holder)}\n`);
  renameSync(temporary, holderPath(root));
}

function readHolder(root: string): LockHolder | undefined {
  try {
    const parsed = holderSchema.safeParse(JSON.parse(readFileSync(holderPath(root), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The holder, allowing it a moment to write its file when it has only just taken the lock. */
function readHolderPatiently(root: string): LockHolder | undefined {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0; attempt < 20; attempt++) {
    const holder = readHolder(root);
    if (holder) return holder;
    Atomics.wait(pause, 0, 0, 50);
  }
  return undefined;
}
