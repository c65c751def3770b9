/**
 * `npm ci` installs exactly the lockfile and refuses one that misses a dependency some package
 * declares, other platforms' optional binaries included (npm prunes those from a lockfile it
 * writes on a machine that does not need them). Checked offline, the way npm resolves a name: the
 * nearest node_modules folder up from the package that asks.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../operator/api/crds.js';

interface LockedPackage {
  version?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const lock = JSON.parse(readFileSync(path.join(packageRoot, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, LockedPackage>;
};
const manifest = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as LockedPackage;

/** The lockfile key a dependency `name` of the package at `from` resolves to, if any. */
function resolve(from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const key = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[key]) return key;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

describe('package-lock.json', () => {
  test('holds what package.json asks for', () => {
    expect(lock.lockfileVersion).toBe(3);
    const root = lock.packages['']!;
    expect(root.dependencies).toEqual(manifest.dependencies);
    expect(root.devDependencies).toEqual(manifest.devDependencies);
  });

  test('every dependency any locked package declares, optional ones of every platform included, is locked too', () => {
    const missing: string[] = [];
    for (const [key, pkg] of Object.entries(lock.packages)) {
      if (pkg.link) continue;
      const wanted = {
        ...pkg.dependencies,
        ...pkg.optionalDependencies,
        ...(key === '' ? pkg.devDependencies : {}),
        // npm 7+ installs peers, except the ones marked optional.
        ...Object.fromEntries(Object.entries(pkg.peerDependencies ?? {}).filter(([name]) => !pkg.peerDependenciesMeta?.[name]?.optional)),
      };
      for (const name of Object.keys(wanted)) if (!resolve(key, name)) missing.push(`${name} (wanted by ${key || 'flotilla'})`);
    }
    expect(missing).toEqual([]);
  });
});
