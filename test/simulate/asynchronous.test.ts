/**
 * `flotilla simulate` under asynchronous buffered aggregation (FedBuff): four hospitals, one of them
 * slow, a buffer of two. The test's own trainer moves the model half way to each site's target, so the
 * test redoes the aggregator's arithmetic from what result.json says it did (who, trained on which
 * version, with which staleness weight) and finds the very model it made. The slow site's first
 * update is held until two versions were made without it, and counts with weight 1/(1+τ)^a. Then the
 * aggregator is killed while its buffer holds an accepted update: the restarted one resumes with the
 * buffer, and the job ends with the same number of versions, no accepted update lost or applied twice.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { Summary } from '../../operator/simulate/outputs.js';
import { Seeded } from '../support/attacks.js';

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
const trainer = path.join(packageRoot, 'test/support/fedbuff/pull-trainer.mjs');
const SITES = ['ashford', 'bexley', 'camden', 'slowby'];
const RECORDS: Record<string, number> = { ashford: 100, bexley: 200, camden: 300, slowby: 150 };
const SLOW = 'slowby';
const D = 8;
const VERSIONS = 6;
const EXPONENT = 0.5;
const SERVER_LEARNING_RATE = 0.8;
/** The one site not paused before the aggregator is killed. */
const RUNNER = 'ashford';
const exists = (file: string) => access(file).then(() => true, () => false);

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

/** What the aggregator's checkpoint says its buffer holds: version and (site, version trained on) pairs. */
async function bufferOnDisk(stateDir: string): Promise<{ version: number; updates: string[]; making: boolean } | null> {
  const text = await readFile(path.join(stateDir, 'checkpoint', 'state.json'), 'utf8').catch(() => null);
  const buffer = text ? (JSON.parse(text) as { buffer?: { version: number; updates: { site: string; trainedOn: number }[]; next?: unknown } }).buffer : undefined;
  return buffer ? { version: buffer.version, updates: buffer.updates.map((u) => `${u.site}@${u.trainedOn}`), making: buffer.next !== undefined } : null;
}

/** Every aggregator's log, in the order they ran: a restarted aggregator logs to a file of its own. */
async function aggregatorLogs(out: string): Promise<string> {
  const files = (await readdir(path.join(out, 'logs')).catch(() => [] as string[])).filter((f) => f.startsWith('aggregator')).sort();
  return (await Promise.all(files.map((f) => readFile(path.join(out, 'logs', f), 'utf8').catch(() => '')))).join('');
}

const logLines = (log: string) =>
  log
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('flotilla simulate with asynchronous buffered aggregation', () => {
  let dir: string;
  const targets = new Map<string, number[]>();
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-fedbuff-'));
    await mkdir(path.join(dir, 'data'));
    const random = new Seeded(11);
    for (const site of SITES) {
      const target = Array.from({ length: D }, () => 2 * random.uniform() - 1);
      targets.set(site, target);
      await writeFile(path.join(dir, 'data', `${site}.json`), JSON.stringify({ target, records: RECORDS[site] }));
    }
  });
  afterAll(() => (process.env.FEDBUFF_KEEP ? undefined : rm(dir, { recursive: true, force: true })));

  async function manifest(name: string): Promise<string> {
    const job = {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'FederatedJob',
      metadata: { name, namespace: 'fedbuff' },
      spec: {
        sites: { names: SITES, overrides: SITES.map((site) => ({ site, data: { path: `data/${site}.json` } })) },
        rounds: VERSIONS,
        minSites: 2,
        roundDeadlineSeconds: 120,
        heartbeatTimeoutSeconds: 60,
        asynchronous: { bufferSize: 2, maxStaleness: 100, stalenessExponent: EXPONENT, serverLearningRate: SERVER_LEARNING_RATE },
        trainer: { command: [process.execPath, trainer], image: 'registry.example.org/fedbuff/pull:1', timeoutSeconds: 120, localEpochs: 1, batchSize: 1, learningRate: 0.5 },
      },
    };
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, YAML.stringify(job));
    return file;
  }

  /**
   * Runs simulate. The slow site's first update waits for `release`, made once two versions exist.
   * With `restart`, once three versions exist every site but RUNNER is paused before its next
   * training; when every site either waits there or has an update in the buffer on disk that it was
   * told was accepted (so no update is between acceptance and its site hearing of it), and the buffer
   * is not empty, the aggregator is SIGKILLed and the sites go on.
   */
  async function simulate(name: string, restart = false, env: NodeJS.ProcessEnv = {}) {
    const out = path.join(dir, `${name}-out`);
    const release = path.join(dir, `${name}.release`);
    const pause = path.join(dir, `${name}.pause`);
    const child = spawn(process.execPath, [cli, 'simulate', await manifest(name), '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        FEDBUFF_SAFETENSORS_MODULE: pathToFileURL(path.join(packageRoot, 'dist/operator/federation/safetensors.js')).href,
        FEDBUFF_SLOW_SITE: SLOW,
        FEDBUFF_RELEASE: release,
        ...(restart ? { FEDBUFF_PAUSE: pause, FEDBUFF_RUNNER: RUNNER } : {}),
        ...env,
      },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit').then(([code]) => code as number);
    let running = true;
    void exited.then(() => (running = false));
    let killed = false;
    let paused = false;
    let released = false;
    let atKill: { version: number; updates: string[]; making: boolean } | null = null;
    try {
      while (running) {
        const lines = logLines(await aggregatorLogs(out));
        const closes = lines.filter((l) => l.message === 'round closed').length;
        if (!released && closes >= 2) {
          await writeFile(release, '');
          released = true;
        }
        if (restart && !killed && closes >= 3) {
          if (!paused) await writeFile(pause, '');
          paused = true;
          const told = new Set(lines.filter((l) => l.message === 'update accepted').map((l) => `${l.site as string}@${(l.round as number) - 1}`));
          const waiting = await Promise.all(SITES.map((site) => exists(`${pause}.${site}`)));
          const [aggregator] = await aggregatorsUnder(child.pid!);
          const buffer = aggregator ? await bufferOnDisk(aggregator.stateDir) : null;
          const quiet = buffer && !buffer.making && buffer.updates.length > 0 && buffer.updates.every((u) => told.has(u));
          if (quiet && SITES.every((site, i) => waiting[i] || buffer.updates.some((u) => u.startsWith(`${site}@`)))) {
            process.kill(aggregator!.pid, 'SIGKILL');
            killed = true;
            atKill = buffer;
            await rm(pause);
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      if (running) child.kill('SIGKILL');
    }
    const code = await exited;
    if (code !== 0) throw new Error(`simulate exited ${code}: ${stderr}`);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary;
    const w = (await readSafetensors(path.join(out, 'model.safetensors'))).model[0]!.data;
    const log = await aggregatorLogs(out);
    const siteLogs = await Promise.all(SITES.map((site) => readFile(path.join(out, 'logs', `site-${site}.log`), 'utf8')));
    return { summary, w, stderr, log, atKill, siteLogs: siteLogs.join('') };
  }

  /** The model the records say was made: version by version, each update's delta on the version it was trained on. */
  function replay(summary: Summary): Float32Array[] {
    const versions = [new Float32Array(D)];
    for (const record of summary.rounds) {
      const next = Float64Array.from(versions[versions.length - 1]!);
      const updates = record.asynchronous!.updates;
      const records = updates.reduce((n, u) => n + u.numSamples, 0);
      for (const u of updates) {
        const base = versions[u.trainedOn]!;
        const target = targets.get(u.site)!;
        for (let j = 0; j < D; j++) next[j]! += (SERVER_LEARNING_RATE * u.numSamples * u.stalenessWeight * 0.5 * (target[j]! - base[j]!)) / records;
      }
      versions.push(Float32Array.from(next));
    }
    return versions;
  }

  it('fast sites make versions while the slow one trains, and its late update counts with its staleness weight', async () => {
    const { summary, w } = await simulate('slow');
    expect(summary.status).toBe('Succeeded');
    expect(summary.asynchronous).toEqual({ bufferSize: 2, maxStaleness: 100, staleness: 'Polynomial', stalenessExponent: EXPONENT, serverLearningRate: SERVER_LEARNING_RATE });
    expect(summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const record of summary.rounds) {
      expect(record.asynchronous!.version).toBe(record.round);
      // Sealed when full: exactly bufferSize updates make a version.
      expect(record.asynchronous!.updates.length).toBe(2);
      for (const u of record.asynchronous!.updates) {
        expect(u.staleness).toBe(record.round - 1 - u.trainedOn);
        expect(u.stalenessWeight).toBeCloseTo(1 / (1 + u.staleness) ** EXPONENT, 12);
      }
    }
    // Versions 1 and 2 were made without the slow site: it was still training on version 0.
    const firstWithSlow = summary.rounds.findIndex((r) => r.participants.includes(SLOW));
    expect(firstWithSlow).toBeGreaterThanOrEqual(2);
    const late = summary.rounds[firstWithSlow]!.asynchronous!.updates.find((u) => u.site === SLOW)!;
    expect(late.trainedOn).toBe(0);
    expect(late.staleness).toBeGreaterThanOrEqual(2);
    expect(late.stalenessWeight).toBeLessThan(0.6);
    // The model is the one those weights make (float32 rounding and the sum's fixed point aside).
    const expected = replay(summary)[VERSIONS]!;
    for (let j = 0; j < D; j++) expect(w[j]!).toBeCloseTo(expected[j]!, 4);
  }, 300_000);

  it('an aggregator killed while its buffer holds an accepted update resumes with it: same versions, no update lost or applied twice', async () => {
    const { summary, w, stderr, log, atKill } = await simulate('restart', true);
    expect(stderr).toMatch(/the aggregator was killed \(SIGKILL\); restarting it/);
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(summary.rounds.map((r) => r.asynchronous!.updates.length)).toEqual([2, 2, 2, 2, 2, 2]);
    const applied = summary.rounds.flatMap((r) => r.asynchronous!.updates.map((u) => `${u.site}@${u.trainedOn}`));
    expect(new Set(applied).size).toBe(applied.length);
    // Every training update the aggregator said it accepted (it has tensors; an evaluation has none), before the kill and after, was applied.
    const accepted = logLines(log)
      .filter((l) => l.message === 'update accepted' && (l.round as number) >= 1 && (l.bytes as number) > 0)
      .map((l) => `${l.site as string}@${(l.round as number) - 1}`);
    expect(accepted.length).toBeGreaterThanOrEqual(2 * VERSIONS);
    expect(accepted.filter((key) => !applied.includes(key))).toEqual([]);
    // What the buffer held at the kill was applied in the version the restarted aggregator made next.
    expect(atKill).not.toBeNull();
    const next = summary.rounds[atKill!.version]!.asynchronous!.updates.map((u) => `${u.site}@${u.trainedOn}`);
    for (const update of atKill!.updates) expect(next).toContain(update);
    const expected = replay(summary)[VERSIONS]!;
    for (let j = 0; j < D; j++) expect(w[j]!).toBeCloseTo(expected[j]!, 4);
  }, 300_000);

  it('an update whose answer a crash cut off is sent again and taken once: the trails of the sites and the job agree', async () => {
    // The aggregator kills itself after recording an accepted update in its trail, before it is durable and before its site hears:
    // at the 12th acceptance, about version 4 of 6, and a restarted one (armed alike) finishes before its own 12th.
    const { summary, w, stderr, siteLogs } = await simulate('lost-answer', false, { FLOTILLA_FAULT_POINT: 'update accepted@12' });
    expect(stderr).toMatch(/the aggregator was killed \(SIGKILL\); restarting it/);
    expect(summary.status).toBe('Succeeded');
    expect(siteLogs).toMatch(/update sent again after its answer was lost/);
    // simulate holds each site's trail against the job's (it exits 1 otherwise): every accepted update is in both.
    expect(summary.audit!.sites.every((t) => t.missingFromJob.length === 0 && t.missingFromSite.length === 0)).toBe(true);
    expect(summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    const applied = summary.rounds.flatMap((r) => r.asynchronous!.updates.map((u) => `${u.site}@${u.trainedOn}`));
    expect(new Set(applied).size).toBe(applied.length);
    const expected = replay(summary)[VERSIONS]!;
    for (let j = 0; j < D; j++) expect(w[j]!).toBeCloseTo(expected[j]!, 4);
  }, 300_000);
});
