import { expect } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';

/**
 * Generated code must be what its generator makes from today's source (a CRD, a .proto): runs the
 * generator into a temporary folder and expects the committed folder to hold exactly those files.
 */
export function expectRegenerated(committedDir: string, command: string, args: (outDir: string) => string[]): void {
  const out = mkdtempSync(join(tmpdir(), 'flotilla-generated-'));
  try {
    execFileSync(command, args(out), { cwd: packageRoot, stdio: 'pipe' });
    const fresh = filesUnder(out);
    const committed = filesUnder(join(packageRoot, committedDir));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh) expect({ path, text }).toEqual({ path, text: committed.get(path) });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files.set(relative(dir, path), readFileSync(path, 'utf8'));
    }
  }
  return files;
}
