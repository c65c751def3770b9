/**
 * The heart-disease job as real processes of the built CLI (run `npm run build` first): the
 * aggregator and the four hospitals' clients on their real records, over mutual TLS, each role kept
 * running as a pod would be (RestartingRole: restarted on the same folders after a crash), with
 * faults planned per role. What a run leaves is what the suites compare: result.json, the final
 * model, and every process's log.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { Model } from '../../operator/federation/model.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { freePort } from '../support/operator-process.js';
import { RestartingRole, type Fault } from '../support/restarting-role.js';
import { NAMESPACE, TestPki, tempDir } from '../dataplane/fixtures.js';

export const EXAMPLE = path.join(packageRoot, 'examples/heart-disease');
export const SITES = ['cleveland', 'hungarian', 'switzerland', 'va'] as const;
/** What docs/data-plane.md promises of a run with restarts: the same final model, to float32 rounding. */
export const REPRODUCIBILITY = 1e-5;

export interface JobFixture {
  dir: string;
  manifest: string;
  pki: TestPki;
  aggregatorTls: string;
  siteTls: Map<string, string>;
  rounds: number;
  remove(): Promise<void>;
}

/** The example job, every site required in every round (so a run's model does not depend on who was quick). */
export async function jobFixture(name: string, spec: Record<string, unknown> = {}): Promise<JobFixture> {
  if (!existsSync(path.join(packageRoot, 'dist/operator/cli/main.js'))) throw new Error('this test runs the built CLI: run `npm run build` first');
  const tmp = await tempDir(name);
  const job = YAML.parse(await readFile(path.join(EXAMPLE, 'federatedjob.yaml'), 'utf8'));
  job.metadata = { name: 'heart', namespace: NAMESPACE };
  Object.assign(job.spec, {
    rounds: 8,
    minSites: SITES.length,
    // Every site is needed in every round: a killed client must be back within these, on a loaded machine too.
    heartbeatTimeoutSeconds: 15,
    roundDeadlineSeconds: 60,
    // A server optimiser: its state must survive a restart too.
    strategy: { name: 'FedAdam', fedOpt: { serverLearningRate: 0.05 } },
    ...spec,
  });
  const manifest = path.join(tmp.dir, 'job.yaml');
  await writeFile(manifest, YAML.stringify(job));
  const pki = await TestPki.create(tmp.dir, 'heart');
  const siteTls = new Map<string, string>();
  for (const site of SITES) siteTls.set(site, await pki.client(site));
  return { dir: tmp.dir, manifest, pki, aggregatorTls: await pki.aggregator(), siteTls, rounds: job.spec.rounds, remove: tmp.remove };
}

export interface RunPlan {
  name: string;
  aggregatorFaults?: Fault[];
  clientFaults?: Partial<Record<(typeof SITES)[number], Fault[]>>;
  /** Log every fault point passed (to learn where the points are). */
  trace?: boolean;
  /** The aggregator's port (a free one by default). */
  port?: number;
  /** The address a site's client dials, given the aggregator's (a proxy, say). */
  addressFor?: (site: string, aggregator: string) => string;
  /** Runs beside the job, with its processes. */
  during?: (job: RunningJob) => Promise<void>;
  /** Give up after this long. */
  timeoutMs?: number;
  /** Let the aggregator's faults strike in the final evaluation and the job's end too (by default they stop there). */
  faultTheEnd?: boolean;
  /**
   * Start the clients once the aggregator listens, so that they all join at once (by default they
   * start with it, and one that backed off longer may join after a phase closed without it).
   */
  clientsAfterAggregator?: boolean;
}

export interface RunningJob {
  address: string;
  metricsAddress: string;
  stateDir: string;
  aggregator: RestartingRole;
  clients: Map<string, RestartingRole>;
  /** The aggregator's /status, or null while it is down. */
  status(): Promise<{ phase: string; round: number } | null>;
}

export interface JobOutcome {
  stateDir: string;
  result: JobResult;
  model: Model | null;
  aggregator: RestartingRole;
  clients: Map<string, RestartingRole>;
  /** How each role ended: the clients on their own, the aggregator when removed at the end (143, SIGTERM). */
  exitCodes: Record<string, number | string>;
}

/** Exit codes of a run that ended well: every client 0 (the job succeeded), the aggregator 143 (removed, lingering). */
export const ENDED_WELL: Record<string, number> = { aggregator: 143, ...Object.fromEntries(SITES.map((s) => [s, 0])) };

/** Where the last checkpoint stands (null before the first). */
export async function checkpointPhase(stateDir: string): Promise<string | null> {
  try {
    return (JSON.parse(await readFile(path.join(stateDir, 'checkpoint', 'state.json'), 'utf8')) as { position: { phase: string } }).position.phase;
  } catch {
    return null;
  }
}

/** Runs the job to its end under the plan. */
export async function runJob(fixture: JobFixture, plan: RunPlan): Promise<JobOutcome> {
  const dir = path.join(fixture.dir, plan.name);
  const logDir = path.join(dir, 'logs');
  await mkdir(logDir, { recursive: true });
  const stateDir = path.join(dir, 'state');
  const [port, metricsPort] = [plan.port ?? (await freePort()), await freePort()];
  const address = `127.0.0.1:${port}`;
  const metricsAddress = `127.0.0.1:${metricsPort}`;
  const env = { ...process.env, ...(plan.trace ? { FLOTILLA_FAULT_TRACE: '1' } : {}) };
  const jobArgs = ['--job', fixture.manifest, '--namespace', NAMESPACE];
  const aggregator = new RestartingRole({
    name: 'aggregator',
    // --linger as in its pod: it answers until removed, so a site back late still learns the end.
    args: ['aggregator', ...jobArgs, '--listen', address, '--metrics-listen', metricsAddress, '--tls-dir', fixture.aggregatorTls, '--state-dir', stateDir, '--linger'],
    logDir,
    env,
    faults: plan.aggregatorFaults,
    // A timed kill strikes the aggregator at work, not while its modules load.
    clockFromFirstLine: true,
    // Not once the final evaluation is under way, unless asked: the job's end is its own suite.
    mayFault: async () => plan.faultTheEnd === true || !['EVALUATE', 'DONE'].includes((await checkpointPhase(stateDir)) ?? ''),
  });
  if (plan.clientsAfterAggregator) {
    const until = Date.now() + 60_000;
    while (Date.now() < until && !(await fetch(`http://${metricsAddress}/status`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false))) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const clients = new Map<string, RestartingRole>();
  for (const site of SITES) {
    const args = ['client', ...jobArgs, '--site', site, '--aggregator', plan.addressFor?.(site, address) ?? address, '--tls-dir', fixture.siteTls.get(site)!];
    args.push('--work-dir', path.join(dir, site), '--data-root', EXAMPLE);
    // Not once the job is over: the operator then removes the client pods; none would come back.
    const jobRunning = () => !existsSync(path.join(stateDir, 'result.json'));
    clients.set(site, new RestartingRole({ name: site, args, logDir, env, faults: plan.clientFaults?.[site], mayFault: jobRunning }));
  }
  const running: RunningJob = {
    address,
    metricsAddress,
    stateDir,
    aggregator,
    clients,
    status: async () => {
      try {
        const res = await fetch(`http://${metricsAddress}/status`, { signal: AbortSignal.timeout(1_000) });
        return res.ok ? ((await res.json()) as { phase: string; round: number }) : null;
      } catch {
        return null;
      }
    },
  };
  const roles = [aggregator, ...clients.values()];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${plan.name}: the job did not end within ${(plan.timeoutMs ?? 180_000) / 1000}s; logs in ${logDir}`)), plan.timeoutMs ?? 180_000);
  });
  try {
    // The clients end with the job; then the aggregator is removed, as the operator removes its pod.
    const ended = Promise.all([plan.during?.(running), ...[...clients.values()].map((r) => r.done)]).then(async ([, ...codes]) => [
      await aggregator.stop('SIGTERM'),
      ...codes,
    ]);
    const codes = await Promise.race([ended, timeout]);
    const exitCodes = Object.fromEntries(roles.map((r, i) => [r.name, codes[i]!]));
    const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
    const model = result.model ? (await readSafetensors(path.join(stateDir, result.model))).model : null;
    return { stateDir, result, model, aggregator, clients, exitCodes };
  } finally {
    clearTimeout(timer);
    await Promise.all(roles.map((r) => r.stop()));
  }
}

/** Waits until a line of one of the roles' logs (any incarnation) matches; the first role to log one. */
export async function firstToLog(roles: RestartingRole[], matches: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<RestartingRole> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const role of roles) if ((await logLines(role)).some(matches)) return role;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`none of ${roles.map((r) => r.name).join(', ')} logged the line awaited within ${timeoutMs / 1000}s`);
}

/** The JSON lines of every incarnation of a role. */
export async function logLines(role: RestartingRole): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  for (const file of role.logFiles) {
    for (const line of (await readFile(file, 'utf8').catch(() => '')).split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the SIGKILL
      }
    }
  }
  return lines;
}

/** How often each fault point was passed, from a traced run's logs. */
export async function pointsPassed(role: RestartingRole): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of await logLines(role)) {
    if (line.message === 'fault point passed') counts.set(String(line.faultPoint), (counts.get(String(line.faultPoint)) ?? 0) + 1);
  }
  return counts;
}

/** The largest difference between two models' values (Infinity if their tensors differ). */
export function furthest(a: Model | null, b: Model | null): number {
  if (!a || !b || a.length !== b.length) return Infinity;
  let most = 0;
  a.forEach((t, k) => {
    const u = b[k]!;
    if (t.name !== u.name || t.data.length !== u.data.length) most = Infinity;
    else for (let i = 0; i < t.data.length; i++) most = Math.max(most, Math.abs(t.data[i]! - u.data[i]!));
  });
  return most;
}

/** Updates a client was told were accepted (TRAIN, by round) that the round's record does not list. */
export async function updatesLost(outcome: JobOutcome): Promise<string[]> {
  const lost: string[] = [];
  for (const [site, role] of outcome.clients) {
    for (const line of await logLines(role)) {
      if (line.message !== 'update sent' || line.kind !== 'TRAIN') continue;
      const record = outcome.result.rounds.find((r) => r.round === line.round);
      if (!record?.participants.includes(site)) lost.push(`${site} round ${String(line.round)}`);
    }
  }
  return lost;
}

/** Files in the state dir that no live state names: temporary files of interrupted writes, stray journals and checkpoints. */
export async function strayFiles(stateDir: string): Promise<string[]> {
  const stray: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) await walk(file);
      else if (entry.name.endsWith('.tmp') || folder.endsWith('journal')) stray.push(path.relative(stateDir, file));
    }
  };
  await walk(stateDir);
  const state = JSON.parse(await readFile(path.join(stateDir, 'checkpoint', 'state.json'), 'utf8')) as { modelFile: string | null; optimizerFile: string | null };
  for (const name of await readdir(path.join(stateDir, 'checkpoint'))) {
    if (!name.startsWith('.') && ![state.modelFile, state.optimizerFile, 'state.json'].includes(name)) stray.push(`checkpoint/${name}`);
  }
  return stray;
}
