/**
 * Processes of a scale-out test: a front-end ({@link ./frontend-child.ts}) and `npm run worker`s, each a
 * real child process on a real Redis, with their output collected for assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { exited } from './spawn.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** The shipped models' folder, as the front-end and the workers of these tests use it. */
export const SHIPPED_MODELS_DIR = path.join(repoRoot, 'models');

/**
 * A generate job's parameters on the shipped model: its defaults (a 2×2 grid of 64², 8 steps,
 * guidance 4) unless `steps` and `size` make it run longer.
 */
export function shippedJob(seed: number, steps = 8, size = 64, n = 4) {
  return {
    explanation: 'test',
    prompt: `a red apple ${seed}`,
    negativePrompt: '',
    seed,
    steps,
    guidance: 4,
    width: size,
    height: size,
    n,
    model: 'flowbot-emoji',
  };
}

/** One line a front-end printed. */
export interface FrontendEvent {
  readonly event: string;
  readonly job?: string;
  readonly user?: string;
  readonly [key: string]: unknown;
}

/** A child process with its output lines kept, and a way to wait for one. */
export class Proc {
  readonly lines: string[] = [];
  protected readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private buffer = '';

  constructor(script: string, env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.resolve(repoRoot, script)], {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      this.buffer += chunk.toString();
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() ?? '';
      this.lines.push(...lines);
      for (const wake of this.waiters) wake();
    };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Waits until a line satisfies `match`; returns it. */
  waitLine(match: (line: string) => boolean, timeoutMs = 60_000, what = 'a line'): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find(match);
        if (line === undefined) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(line);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; output:\n${this.lines.slice(-40).join('\n')}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  /** Sends one JSON command line on stdin. */
  send(command: Record<string, unknown>): void {
    this.child.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /** Resolves with the exit code once the process has exited by itself. */
  async exit(): Promise<number | null> {
    return this.closeStdio(await exited(this.child));
  }

  /** Kills with `signal` and waits for the exit; returns the exit code. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.closeStdio(await exited(this.child));
  }

  /** A dead child's pipes would otherwise keep this process alive (`npm run bench` would not exit). */
  private closeStdio(code: number | null): number | null {
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) stream?.destroy();
    return code;
  }
}

/** The front-end: JSON events on stdout. */
export class Frontend extends Proc {
  constructor(env: NodeJS.ProcessEnv) {
    super('test/helpers/frontend-child.ts', env);
  }

  /** Every JSON event printed so far. */
  get events(): FrontendEvent[] {
    return this.lines.flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as FrontendEvent];
      } catch {
        return [];
      }
    });
  }

  /** Waits for an event satisfying `match`. */
  async waitEvent(match: (event: FrontendEvent) => boolean, timeoutMs = 60_000, what = 'an event') {
    const line = await this.waitLine(
      (l) => {
        if (!l.startsWith('{')) return false;
        try {
          return match(JSON.parse(l) as FrontendEvent);
        } catch {
          return false;
        }
      },
      timeoutMs,
      what,
    );
    return JSON.parse(line) as FrontendEvent;
  }

  /** Queues generate jobs in one write, so that they arrive together; resolves with their ids. */
  async enqueueAll(jobs: { user: string; params: Record<string, unknown> }[]): Promise<string[]> {
    const before = this.events.filter((e) => e.event === 'enqueued').length;
    this.child.stdin?.write(jobs.map((job) => `${JSON.stringify({ op: 'enqueue', ...job })}\n`).join(''));
    await this.waitLine(
      () => this.events.filter((e) => e.event === 'enqueued').length >= before + jobs.length,
      10_000,
      'enqueued',
    );
    return this.events
      .filter((e) => e.event === 'enqueued')
      .slice(before)
      .map((e) => e.job!);
  }

  /** Queues a generate job for `user`; resolves with its id. */
  async enqueue(user: string, params: Record<string, unknown>): Promise<string> {
    const before = this.events.filter((e) => e.event === 'enqueued').length;
    this.send({ op: 'enqueue', user, params });
    await this.waitLine(
      () => this.events.filter((e) => e.event === 'enqueued').length > before,
      10_000,
      'enqueued',
    );
    return this.events.filter((e) => e.event === 'enqueued')[before]!.job!;
  }
}

/** `npm run worker`. */
export class WorkerProc extends Proc {
  constructor(env: NodeJS.ProcessEnv) {
    super('src/cli/worker.ts', env);
  }

  ready(): Promise<string> {
    return this.waitLine((line) => line.includes('ready:'), 60_000, 'worker ready');
  }

  /** Ids of the jobs this worker logged as started. */
  get startedJobs(): string[] {
    return this.lines.flatMap((line) => {
      const match = /\[worker\] job started job=(\w+)/.exec(line);
      return match ? [match[1]!] : [];
    });
  }
}
