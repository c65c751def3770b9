import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { packageRoot } from '../../../operator/api/crds.js';
import { readSafetensors } from '../../../operator/federation/safetensors.js';
import type { Summary } from '../../../operator/simulate/outputs.js';
import { Seeded } from '../attacks.js';

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
const trainer = path.join(packageRoot, 'test/support/fedbuff/pull-trainer.mjs');
export const SITES = ['ashford', 'bexley', 'camden', 'slowby'];
const RECORDS: Record<string, number> = { ashford: 100, bexley: 200, camden: 300, slowby: 150 };
export const SLOW = 'slowby';
export const D = 8;
export const VERSIONS = 6;
export const EXPONENT = 0.5;
export const SERVER_LEARNING_RATE = 0.8;
/** The one site not paused before the aggregator is killed. */
export const RUNNER = 'ashford';
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

export const logLines = (log: string) =>
  log
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/**
 * The asynchronous-aggregation simulate tests' job: four hospitals (one slow), a buffer of two,
 * the test's own trainer (test/support/fedbuff/pull-trainer.mjs), so that a test can redo the
 * aggregator's arithmetic from what summary.json says it did.
 */
export class AsyncJob {
  private constructor(
    private readonly dir: string,
    private readonly targets: Map<string, number[]>,
  ) {}

  static async create(): Promise<AsyncJob> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-fedbuff-'));
    const targets = new Map<string, number[]>();
    await mkdir(path.join(dir, 'data'));
    const random = new Seeded(11);
    for (const site of SITES) {
      const target = Array.from({ length: D }, () => 2 * random.uniform() - 1);
      targets.set(site, target);
      await writeFile(path.join(dir, 'data', `${site}.json`), JSON.stringify({ target, records: RECORDS[site] }));
    }
    return new AsyncJob(dir, targets);
  }

  /** Removes the job's folder (kept with FEDBUFF_KEEP set, to look at). */
  close(): Promise<void> {
    return process.env.FEDBUFF_KEEP ? Promise.resolve() : rm(this.dir, { recursive: true, force: true });
  }

  private async manifest(name: string): Promise<string> {
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
    const file = path.join(this.dir, `${name}.yaml`);
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
  async simulate(name: string, restart = false, env: NodeJS.ProcessEnv = {}) {
    const out = path.join(this.dir, `${name}-out`);
    const release = path.join(this.dir, `${name}.release`);
    const pause = path.join(this.dir, `${name}.pause`);
    const child = spawn(process.execPath, [cli, 'simulate', await this.manifest(name), '--out', out], {
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
  replay(summary: Summary): Float32Array[] {
    const versions = [new Float32Array(D)];
    for (const record of summary.rounds) {
      const next = Float64Array.from(versions[versions.length - 1]!);
      const updates = record.asynchronous!.updates;
      const records = updates.reduce((n, u) => n + u.numSamples, 0);
      for (const u of updates) {
        const base = versions[u.trainedOn]!;
        const target = this.targets.get(u.site)!;
        for (let j = 0; j < D; j++) next[j]! += (SERVER_LEARNING_RATE * u.numSamples * u.stalenessWeight * 0.5 * (target[j]! - base[j]!)) / records;
      }
      versions.push(Float32Array.from(next));
    }
    return versions;
  }
}
