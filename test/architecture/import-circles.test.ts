import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const root = path.resolve(import.meta.dirname, '..', '..');

const report = z.object({
  summary: z.object({
    violations: z.array(
      z.object({ rule: z.object({ name: z.string() }), cycle: z.array(z.unknown()).optional() }),
    ),
  }),
});

describe('import rules', () => {
  it('have no import circles in src, commands or adapters', () => {
    // The same rules `npm run check:imports` applies in CI, read as JSON to list the circles found.
    const run = spawnSync(
      path.join(root, 'node_modules', '.bin', 'depcruise'),
      [
        '--config',
        'test/architecture/dependency-rules.cjs',
        '--output-type',
        'json',
        'src',
        'commands',
        'adapters',
      ],
      { cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
    );
    const circles = report
      .parse(JSON.parse(run.stdout))
      .summary.violations.filter((violation) => violation.rule.name === 'no-circular');
    expect(circles).toEqual([]);
  }, 120_000);
});
