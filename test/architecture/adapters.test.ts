import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const adapters = path.resolve(import.meta.dirname, '..', '..', 'adapters');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'public' ? [] : sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('adapters only translate', () => {
  it('reach conversations through the command layer, never the store', () => {
    // dependency-cruiser (npm run check:imports) checks the imports; this checks property access.
    const offenders = sources(adapters).filter((file) =>
      /\bcore\.store\b|\.store\.\w+\(/.test(readFileSync(file, 'utf8')),
    );
    expect(offenders.map((f) => path.relative(adapters, f))).toEqual([]);
  });
});
