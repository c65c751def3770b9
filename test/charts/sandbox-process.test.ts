/**
 * The sandbox where real nodes cannot run (here asked for with FLOTILLA_SANDBOX_NODES=process): `up`
 * brings a hub and two enrolled hospitals whose pods run as processes, with the heart-disease job
 * applied; `down` stops it all and leaves no process and no folder of it. (test/real-node/sandbox.test.ts
 * is the same on real nodes.)
 */
import { describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../operator/api/crds.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';

const execFileAsync = promisify(execFile);

describe('the sandbox with process kubelets', () => {
  test('up: a hub and two hospitals with the job applied; down: no process or folder of it is left', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'flotilla-sandbox-process-'));
    const env = { ...process.env, FLOTILLA_SANDBOX_DIR: dir, FLOTILLA_SANDBOX_NODES: 'process' };
    const sandbox = (command: 'up' | 'down') =>
      execFileAsync(process.execPath, [path.join(packageRoot, 'dist/sandbox/main.js'), command], { env, maxBuffer: 16 << 20, timeout: 20 * 60_000 });
    let t0 = Date.now();
    const { stdout } = await sandbox('up').catch(async (e: Error & { stdout?: string }) => {
      const log = await readFile(path.join(dir, 'sandbox.log'), 'utf8').catch(() => '');
      throw new Error(`${e.message}\n${e.stdout ?? ''}\n${log.slice(-4000)}`);
    });
    const upMs = Date.now() - t0;
    expect(stdout).toContain('on process kubelets');
    expect(stdout).toContain('kubectl get federatedjobs -A -w');
    const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as { kubeconfigs: Record<string, string>; folders: string[] };
    const kubectl = async (cluster: string, args: string[]) =>
      (await execFileAsync(path.join(await resolveBinDir(), 'kubectl'), ['--kubeconfig', state.kubeconfigs[cluster]!, ...args])).stdout;
    const connected = await kubectl('hub', ['get', 'sites', '--output=jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Connected")].status} {end}']);
    expect(connected.trim()).toBe('cleveland=True hungarian=True');
    expect(await kubectl('hub', ['get', 'federatedjob', 'heart-disease', '--namespace=cardiology', '--output=jsonpath={.spec.rounds}'])).toBe('20');
    expect(state.folders.length).toBeGreaterThan(0);

    t0 = Date.now();
    const down = await sandbox('down');
    console.log(`process sandbox up ${upMs} ms, down ${Date.now() - t0} ms`);
    expect(down.stdout).toContain('nothing of it is left');
    expect(existsSync(dir)).toBe(false);
    for (const folder of state.folders) expect(existsSync(folder)).toBe(false);
    const left: string[] = [];
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (state.folders.some((f) => cmdline.includes(f)) || cmdline.includes(`${dir}`)) left.push(cmdline.replaceAll('\0', ' '));
    }
    expect(left).toEqual([]);
  }, 30 * 60_000);
});
