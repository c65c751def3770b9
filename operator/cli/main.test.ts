import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';

/** Records the URL of every module the process loads (ES modules and require()d ones) into $LOADED_MODULES. */
const RECORDER = `
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const loaded = [];
registerHooks({ load(url, context, nextLoad) { loaded.push(url); return nextLoad(url, context); } });
process.on('exit', () => writeFileSync(process.env.LOADED_MODULES, loaded.join('\\n')));
`;

describe('flotilla: each role loads only its own code', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'flotilla-cli-'));
    writeFileSync(path.join(dir, 'recorder.mjs'), RECORDER);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The modules the built CLI loads for these arguments. */
  function modulesLoaded(args: string[]): string[] {
    const out = path.join(dir, `${args.join('-')}.txt`);
    const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
    execFileSync(process.execPath, ['--import', path.join(dir, 'recorder.mjs'), cli, ...args], {
      env: { ...process.env, LOADED_MODULES: out },
      stdio: 'pipe',
    });
    return readFileSync(out, 'utf8').split('\n');
  }

  it.each([['client'], ['aggregator']])('flotilla %s --help loads no Kubernetes client and none of the hub or the controller kit', (role) => {
    const loaded = modulesLoaded([role, '--help']);
    const ours = loaded.filter((url) => url.includes('/dist/operator/')).map((url) => url.slice(url.indexOf('/dist/operator/') + '/dist/operator/'.length));
    expect(ours).toContain('cli/main.js'); // the recorder saw the program itself
    expect(loaded.filter((url) => url.includes('/@kubernetes/client-node/')).slice(0, 3)).toEqual([]);
    // The operator's flags are declared in hub/operator-settings.ts; nothing else of the hub, and none of kube/.
    expect(ours.filter((m) => (m.startsWith('hub/') && m !== 'hub/operator-settings.js') || m.startsWith('kube/'))).toEqual([]);
  });
});
