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

/** Every adapter module but the composition root, which builds the Core and wires the surfaces. */
const translators = () => sources(adapters).filter((file) => path.basename(file) !== 'main.ts');

describe('adapters only translate', () => {
  it('hold no Core, store, queue or file store: what they post goes through Delivery', () => {
    // dependency-cruiser (npm run check:imports) checks the imports; this checks property access.
    const offenders = translators().filter((file) =>
      /\bcore\.\w+|\.store\.\w+\(|\.queue\.(on|emit)\(|\.files\.resolve\(/.test(readFileSync(file, 'utf8')),
    );
    expect(offenders.map((f) => path.relative(adapters, f))).toEqual([]);
  });

  it('each attach one ChatSurface to Delivery', () => {
    const attaching = translators().filter((file) => /\.delivery\.attach\(/.test(readFileSync(file, 'utf8')));
    expect(attaching.map((f) => path.relative(adapters, f)).sort()).toEqual([
      'discord/adapter.ts',
      'slack/adapter.ts',
      'web/server.ts',
    ]);
  });

  it('keep every file under 400 lines', () => {
    const long = sources(adapters)
      .map((file) => [path.relative(adapters, file), readFileSync(file, 'utf8').split('\n').length] as const)
      .filter(([, lines]) => lines >= 400);
    expect(long).toEqual([]);
  });
});
