/**
 * A process's peak memory over a stretch of work, from Linux's /proc: the peak (VmHWM) is reset through
 * clear_refs, so what is measured is how far the resident set rose above where it stood at the start,
 * including memory that native code (sharp, ONNX Runtime) allocated off the JavaScript heap.
 */
import { readFileSync, writeFileSync } from 'node:fs';

function statusMB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  if (kB === undefined) throw new Error(`no ${field} for process ${pid}`);
  return Number(kB) / 1024;
}

/** Starts a measurement of `pid`'s memory; the returned function tells the rise of its peak so far, in MB. */
export function watchPeakRss(pid = process.pid): () => number {
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // 5: reset the peak resident set size to the current
  const start = statusMB(pid, 'VmRSS');
  return () => statusMB(pid, 'VmHWM') - start;
}
