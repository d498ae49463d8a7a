/**
 * The install-script policy: package.json's `allowScripts`, which npm 11.16+ reads and npm 12 enforces (it
 * runs no dependency install script the policy does not allow). Checked against the lockfile, so a new
 * dependency with an install script, or a policy entry npm would never match, fails here before an install
 * under npm 12 silently skips a script flowbot needs. test/smoke/fresh-install.sh (run by .ci/run with npm
 * 12) proves the policy end to end.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const ROOT = path.resolve(import.meta.dirname, '..');

const PolicySchema = z.object({ allowScripts: z.record(z.string(), z.boolean()).default({}) });
const LockSchema = z.object({
  packages: z.record(
    z.string(),
    z.object({
      name: z.string().optional(),
      version: z.string().optional(),
      resolved: z.string().optional(),
      hasInstallScript: z.boolean().optional(),
    }),
  ),
});
type LockedPackage = z.infer<typeof LockSchema>['packages'][string] & { name: string };

const policy = PolicySchema.parse(
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')),
).allowScripts;
const locked: LockedPackage[] = Object.entries(
  LockSchema.parse(JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'))).packages,
)
  .filter(([where]) => where.includes('node_modules/'))
  .map(([where, entry]) => ({
    ...entry,
    name: entry.name ?? where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length),
  }));

/** An `allowScripts` key: a package name, optionally pinned (`name@1.2.3`, or versions joined by `||`). */
function parseKey(key: string): { name: string; versions: string[] | undefined } {
  const at = key.indexOf('@', 1);
  if (at < 0) return { name: key, versions: undefined };
  return {
    name: key.slice(0, at),
    versions: key
      .slice(at + 1)
      .split('||')
      .map((v) => v.trim()),
  };
}

/** Whether npm would match the key to this locked package: a pin needs the version and a resolved URL. */
function matches(key: string, pkg: LockedPackage): boolean {
  const { name, versions } = parseKey(key);
  if (name !== pkg.name) return false;
  if (!versions) return true;
  return pkg.resolved !== undefined && pkg.version !== undefined && versions.includes(pkg.version);
}

describe('install-script policy (allowScripts)', () => {
  const withScripts = locked.filter((pkg) => pkg.hasInstallScript);

  it('reviews every locked package that has an install script', () => {
    const unreviewed = withScripts
      .filter((pkg) => !Object.keys(policy).some((key) => matches(key, pkg)))
      .map((pkg) => `${pkg.name}@${pkg.version}`);
    // Review the script, then `npm install-scripts approve --no-allow-scripts-pin NAME` (or `deny NAME`):
    // name-only, because the lockfile carries no resolved URLs and npm matches a pin only against one.
    expect(unreviewed).toEqual([]);
  });

  it('names no package that is gone or has no install script', () => {
    const stale = Object.keys(policy).filter((key) => !withScripts.some((pkg) => matches(key, pkg)));
    expect(stale).toEqual([]);
  });

  it("builds better-sqlite3's native module and skips onnxruntime-node's CUDA download", () => {
    expect(policy['better-sqlite3']).toBe(true);
    expect(policy['onnxruntime-node']).toBe(false);
  });
});
