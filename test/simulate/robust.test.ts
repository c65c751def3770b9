/**
 * `flotilla simulate` with a hostile site among five: the test's own trainer (a command, as a hospital
 * would bring) pulls every honest site's model towards one target, while the hostile site sends the
 * honest move turned around, ten times as long, claiming ten times the records. FedAvg is driven away;
 * the median and Krum keep the model on target. A robust round cut by a crash of the aggregator
 * re-runs and ends with the very same model.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { Summary } from '../../operator/simulate/outputs.js';
import { Seeded } from '../support/attacks.js';

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
const trainer = path.join(packageRoot, 'test/support/robust/drift-trainer.mjs');
const SITES = ['ashford', 'bexley', 'camden', 'dover', 'ealing'];
const HOSTILE = 'dover';
const D = 40;
const ROUNDS = 5;

/** The aggregators among a process's children, with their state dirs. */
async function aggregatorsUnder(pid: number): Promise<{ pid: number; stateDir: string }[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number);
  const found: { pid: number; stateDir: string }[] = [];
  for (const child of children) {
    const args = (await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args[2] === 'aggregator') found.push({ pid: child, stateDir: args[args.indexOf('--state-dir') + 1]! });
  }
  return found;
}

describe('flotilla simulate with a hostile site', () => {
  let dir: string;
  const target = (() => {
    const random = new Seeded(3);
    return Array.from({ length: D }, () => 2 * random.uniform() - 1);
  })();
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-robust-'));
    await mkdir(path.join(dir, 'data'));
    const random = new Seeded(5);
    for (const site of SITES) {
      // Each honest hospital's records pull a little differently.
      const own = target.map((x) => x + 0.05 * random.gaussian());
      await writeFile(path.join(dir, 'data', `${site}.json`), JSON.stringify({ target: own, hostile: site === HOSTILE }));
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function manifest(name: string, strategy: Record<string, unknown>): Promise<string> {
    const job = {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'FederatedJob',
      metadata: { name, namespace: 'robust' },
      spec: {
        sites: { names: SITES, overrides: SITES.map((site) => ({ site, data: { path: `data/${site}.json` } })) },
        rounds: ROUNDS,
        minSites: 5,
        roundDeadlineSeconds: 120,
        heartbeatTimeoutSeconds: 60,
        strategy,
        trainer: { command: [process.execPath, trainer], image: 'registry.example.org/robust/drift:1', timeoutSeconds: 60, localEpochs: 1, batchSize: 1, learningRate: 0.5 },
      },
    };
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, YAML.stringify(job));
    return file;
  }

  /** Runs simulate; `kill` is asked every 50 ms, with the aggregator's log, whether to SIGKILL it now. */
  async function simulate(file: string, kill: (log: string) => boolean = () => false, env: NodeJS.ProcessEnv = {}) {
    const out = path.join(dir, `${path.basename(file, '.yaml')}-out`);
    const child = spawn(process.execPath, [cli, 'simulate', file, '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ROBUST_SAFETENSORS_MODULE: pathToFileURL(path.join(packageRoot, 'dist/operator/federation/safetensors.js')).href, ...env },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit').then(([code]) => code as number);
    let running = true;
    void exited.then(() => (running = false));
    const spilledAtKill: string[][] = [];
    while (running) {
      const log = await readFile(path.join(out, 'logs', 'aggregator.log'), 'utf8').catch(() => '');
      if (spilledAtKill.length === 0 && kill(log)) {
        for (const aggregator of await aggregatorsUnder(child.pid!)) {
          spilledAtKill.push(await readdir(path.join(aggregator.stateDir, 'journal')));
          process.kill(aggregator.pid, 'SIGKILL');
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const code = await exited;
    if (code !== 0) throw new Error(`simulate exited ${code}: ${stderr}`);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary;
    const w = (await readSafetensors(path.join(out, 'model.safetensors'))).model[0]!.data;
    const distance = Math.sqrt(w.reduce((s, x, j) => s + (x - target[j]!) ** 2, 0));
    return { summary, w, distance, stderr, spilledAtKill };
  }

  const honestAccuracy = (summary: Summary) => {
    const honest = summary.sites.filter((s) => s.site !== HOSTILE);
    return honest.reduce((s, x) => s + x.testAccuracy!, 0) / honest.length;
  };

  let median: Awaited<ReturnType<typeof simulate>>;

  it('FedAvg is driven away from the target by the one hostile site', async () => {
    const { summary, distance } = await simulate(await manifest('fedavg', { name: 'FedAvg' }));
    expect(summary.status).toBe('Succeeded');
    expect(summary.robust).toBeUndefined();
    // Each round multiplies the distance by about 1 + (400·0.5 + 1000·5)/1400 ≈ 4.9.
    expect(distance).toBeGreaterThan(100);
    expect(honestAccuracy(summary)).toBeLessThan(0.1);
  }, 300_000);

  it('the coordinate-wise median keeps the model on target', async () => {
    median = await simulate(await manifest('median', { name: 'FedAvg', robust: { rule: 'Median' } }));
    expect(median.summary.status).toBe('Succeeded');
    expect(median.summary.robust).toEqual({ rule: 'Median' });
    expect(median.summary.rounds.every((r) => r.participants.length === 5)).toBe(true);
    // Honest sites alone would end 0.5^5 of the way from the target (|target| ≈ 3.7), plus their spread.
    expect(median.distance).toBeLessThan(0.5);
    expect(honestAccuracy(median.summary)).toBeGreaterThan(0.9);
  }, 300_000);

  it('Krum (f = 1 of 5) keeps the model on target too', async () => {
    const krum = await simulate(await manifest('krum', { name: 'FedAvg', robust: { rule: 'Krum', hostileSites: 1 } }));
    expect(krum.distance).toBeLessThan(0.5);
    expect(honestAccuracy(krum.summary)).toBeGreaterThan(0.9);
  }, 300_000);

  it('a norm bound alone caps how far a round moves the model, however many records the hostile site claims', async () => {
    const bound = 1;
    const { summary, w } = await simulate(await manifest('bounded', { name: 'FedAvg', robust: { normBound: bound } }));
    expect(summary.status).toBe('Succeeded');
    expect(summary.robust).toEqual({ normBound: bound });
    // A weighted mean of deltas clipped to the bound is within it: five rounds move the model by at most 5·bound.
    expect(Math.hypot(...w)).toBeLessThanOrEqual(ROUNDS * bound + 1e-4);
    expect(Math.hypot(...w)).toBeGreaterThan(0.5 * bound);
  }, 300_000);

  it('a robust round cut by an aggregator crash re-runs and makes the very same model', async () => {
    const file = await manifest('median-crash', { name: 'FedAvg', robust: { rule: 'Median' } });
    // One site is slow to train, so that the crash lands while round 3 holds spilled updates.
    const accepted = (log: string, round: number) => log.split('\n').filter((l) => l.includes('"update accepted"') && l.includes(`"round":${round}`)).length;
    const closed = (log: string) => log.split('\n').filter((l) => l.includes('"round closed"')).length;
    const crashed = await simulate(file, (log) => closed(log) === 2 && accepted(log, 3) >= 3, { ROBUST_SLOW_SITE: 'ealing' });
    expect(crashed.stderr).toMatch(/the aggregator was killed \(SIGKILL\); restarting it/);
    expect(crashed.spilledAtKill).toHaveLength(1);
    expect(crashed.spilledAtKill[0]!.length).toBeGreaterThanOrEqual(3);
    expect(crashed.summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5]);
    // The same bits (the files differ only in the job's name in their metadata).
    expect(Buffer.from(crashed.w.buffer).equals(Buffer.from(median.w.buffer))).toBe(true);
  }, 300_000);
});
