/** The text of a job's status while it runs: its one-line explanation and a progress bar. */
import type { JobRecord } from '../src/store/store.js';

/** The explanation a job was queued with. */
export function explanationOf(job: JobRecord): string {
  return (job.params as { explanation?: string }).explanation ?? '';
}

/** "<explanation>\n`██████░░░░` 3/8", as chat status messages show it. */
export function progressText(job: JobRecord, step: number, total: number): string {
  const width = 20;
  const filled = Math.round((step / Math.max(1, total)) * width);
  return `${explanationOf(job)}\n\`${'█'.repeat(filled)}${'░'.repeat(width - filled)}\` ${step}/${total}`;
}
