/**
 * `npm run sandbox` and `npm run sandbox:down`, run as a person runs them (the built dist/sandbox):
 * up brings a hub and two enrolled hospitals on real nodes with the heart-disease job applied and
 * prints where the kubeconfigs are; the clusters answer through them; down stops it all, and the
 * machine is left as it was: no process, network namespace, cgroup, mount or folder of the run.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../operator/api/crds.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { realNodeSkipReason } from '../support/real-node/real-nodes.js';

const execFileAsync = promisify(execFile);
const skip = realNodeSkipReason();
if (skip) console.warn(`test/real-node skipped: ${skip}`);
const describeReal = skip ? describe.skip : describe;

describeReal('the sandbox: one command up, one command down', () => {
  let dir: string;
  const env = () => ({ ...process.env, FLOTILLA_SANDBOX_DIR: dir });
  const sandbox = (command: 'up' | 'down') =>
    execFileAsync(process.execPath, [path.join(packageRoot, 'dist/sandbox/main.js'), command], { env: env(), maxBuffer: 16 << 20, timeout: 30 * 60_000 });

  afterAll(async () => {
    if (dir && existsSync(path.join(dir, 'state.json'))) await sandbox('down').catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 5 * 60_000);

  test('up: a hub and two hospitals with the job applied; down: nothing of it is left', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flotilla-sandbox-test-'));
    let t0 = Date.now();
    const { stdout: upOutput } = await sandbox('up');
    const upMs = Date.now() - t0;
    // Progress as it went, then what to do next.
    expect(upOutput).toContain('docs/install.md, 3. At the hospital');
    expect(upOutput).toContain('The sandbox is up');
    expect(upOutput).toContain('kubectl get federatedjobs -A -w');
    expect(upOutput).toContain('npm run sandbox:down');
    const kubeconfigs = Object.fromEntries(['hub', 'cleveland', 'hungarian'].map((name) => [name, path.join(dir, `${name}.kubeconfig`)]));
    for (const file of Object.values(kubeconfigs)) expect(upOutput).toContain(file);

    // The printed kubeconfigs reach the clusters: both sites connected, the job there, each hospital's agent running.
    const kubectl = async (cluster: string, args: string[]) =>
      (await execFileAsync(path.join(await resolveBinDir(), 'kubectl'), ['--kubeconfig', kubeconfigs[cluster]!, ...args])).stdout;
    const sites = JSON.parse(await kubectl('hub', ['get', 'sites', '--output=json'])).items;
    expect(
      sites.map((s: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }) => [
        s.metadata.name,
        s.status.conditions.find((c) => c.type === 'Connected')?.status,
      ]),
    ).toEqual([
      ['cleveland', 'True'],
      ['hungarian', 'True'],
    ]);
    expect(await kubectl('hub', ['get', 'federatedjob', 'heart-disease', '--namespace=cardiology', '--output=jsonpath={.spec.rounds}'])).toBe('20');
    for (const hospital of ['cleveland', 'hungarian']) {
      expect(await kubectl(hospital, ['get', 'deployment', 'flotilla-site-agent', '--namespace=flotilla', '--output=jsonpath={.status.readyReplicas}'])).toBe('1');
    }
    // What the run made on the machine, from its record.
    const record = JSON.parse(await readFile('/run/flotilla-real-node/run.json', 'utf8')) as { dirs: string[] };
    expect(record.dirs.some((d) => '/srv/records/cleveland'.startsWith(d))).toBe(true);

    t0 = Date.now();
    const { stdout: downOutput } = await sandbox('down');
    const downMs = Date.now() - t0;
    expect(downOutput).toContain('nothing of it is left');
    console.log(`sandbox up ${upMs} ms, down ${downMs} ms`);

    expect(existsSync(dir)).toBe(false);
    expect(existsSync('/run/flotilla-real-node/run.json')).toBe(false);
    for (const folder of record.dirs) expect(existsSync(folder)).toBe(false);
    const netns = await readdir('/run/netns').catch(() => [] as string[]);
    expect(netns.filter((n) => n.startsWith('flotilla-rn-'))).toEqual([]);
    expect((await readdir('/sys/fs/cgroup/memory')).filter((c) => c.startsWith('flotilla-rn-'))).toEqual([]);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(record.dirs.filter((d) => mounts.includes(d))).toEqual([]);
    const processes: string[] = [];
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (record.dirs.some((d) => cmdline.includes(d)) || cmdline.includes('dist/sandbox/main.js\0serve')) processes.push(cmdline.replaceAll('\0', ' '));
    }
    expect(processes).toEqual([]);
  }, 40 * 60_000);
});
