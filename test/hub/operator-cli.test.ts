/** `flotilla operator` as the image and the tests start it: the built CLI parses every flag operatorSettings reads. */
import { describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { OPERATOR_FLAGS } from '../../operator/hub/operator-settings.js';

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');

function flotilla(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('flotilla operator command line', () => {
  test('--help names every flag', async () => {
    const { code, stdout } = await flotilla('operator', '--help');
    expect(code).toBe(0);
    const named = [...stdout.matchAll(/--([a-z-]+)/g)].map((m) => m[1]);
    expect([...new Set(named)].sort()).toEqual([...OPERATOR_FLAGS].sort());
  });

  test('a flag it does not know, or a bad value, is refused before it touches a cluster', async () => {
    const unknown = await flotilla('operator', '--no-such-flag=1');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--no-such-flag'");
    // Values reach operatorSettings as the CLI parsed them: `--leader-elect=false` parses, `maybe` is refused.
    const bad = await flotilla('operator', '--leader-elect=maybe', '--kubeconfig=/nonexistent');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--leader-elect must be true or false, not "maybe"');
  });
});
