/**
 * `flotilla simulate` when its aggregator dies: it restarts it on the same state dir and address,
 * as Kubernetes restarts a pod, so the job carries on; and if the aggregator keeps dying, it says
 * so in words, not with a raw ENOENT of a result.json that was never written.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import type { Summary } from '../../operator/simulate/outputs.js';

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
const EXAMPLE = path.join(packageRoot, 'examples/heart-disease');

/** The pids of a process's children whose command line names the aggregator role. */
async function aggregatorsUnder(pid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number);
  const found: number[] = [];
  for (const child of children) {
    const args = (await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args[2] === 'aggregator') found.push(child);
  }
  return found;
}

/** Rounds the aggregator's log says closed so far. */
async function roundsClosed(out: string): Promise<number> {
  const log = await readFile(path.join(out, 'logs', 'aggregator.log'), 'utf8').catch(() => '');
  return log.split('\n').filter((line) => line.includes('"round closed"')).length;
}

describe('flotilla simulate with an aggregator that dies', () => {
  let dir: string;
  let manifest: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-simulate-crash-'));
    const job = YAML.parse(await readFile(path.join(EXAMPLE, 'federatedjob.yaml'), 'utf8'));
    job.spec.rounds = 6;
    // The sites' data paths are relative to the manifest's folder: the example's data, linked.
    await symlink(path.join(EXAMPLE, 'data'), path.join(dir, 'data'));
    manifest = path.join(dir, 'job.yaml');
    await writeFile(manifest, YAML.stringify(job));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Runs simulate; `kill` is asked every 50 ms whether to SIGKILL the aggregator now. */
  async function simulate(name: string, kill: (closed: number, kills: number) => boolean) {
    const out = path.join(dir, name);
    const child = spawn(process.execPath, [cli, 'simulate', manifest, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdout!.on('data', () => {});
    const exited = once(child, 'exit').then(([code]) => code as number);
    let kills = 0;
    let running = true;
    void exited.then(() => (running = false));
    while (running) {
      const closed = await roundsClosed(out);
      if (kill(closed, kills)) {
        for (const pid of await aggregatorsUnder(child.pid!)) {
          process.kill(pid, 'SIGKILL');
          kills++;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return { code: await exited, stderr, kills, out };
  }

  it('restarts it as Kubernetes would, and the job ends as if nothing happened', async () => {
    const { code, stderr, kills, out } = await simulate('once', (closed, kills) => kills === 0 && closed >= 2);
    expect(kills).toBe(1);
    expect(stderr).toMatch(/the aggregator was killed \(SIGKILL\); restarting it on its state dir \(restart 1 of \d+\)/);
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary;
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
  }, 300_000);

  it('says what happened when it keeps dying', async () => {
    const { code, stderr, kills } = await simulate('always', () => true);
    expect(kills).toBeGreaterThan(1);
    expect(code).toBe(1);
    expect(stderr).not.toContain('ENOENT');
    expect(stderr).toMatch(/the aggregator was killed \(SIGKILL\) \d+ times; giving up: the job has no result/);
  }, 300_000);
});
