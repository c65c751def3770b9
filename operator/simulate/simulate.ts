import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { loadFederatedJob, siteNames } from '../api/federatedjob.js';
import { issueSimulationCredentials } from './credentials.js';
import { logTail, startRole, stopRole, waitForReadyFile, type RoleProcess } from './processes.js';
import { progressView, scrapeRound } from './progress.js';
import { writeOutputs } from './outputs.js';
import { RESULT_FILE } from '../aggregator/result.js';
import { Backoff } from '../process/backoff.js';

/** How often a dead aggregator is started again before the run gives up. */
const MAX_RESTARTS = 5;
/** `flotilla aggregator`'s exit code for a usage error: starting it again would not help. */
const USAGE_ERROR = 2;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

function describeExit(code: number | string): string {
  return typeof code === 'string' ? `killed (${code})` : `ended with exit code ${code} before writing the job's result`;
}

/**
 * `flotilla simulate`: a FederatedJob run on one machine with the very same aggregator and client
 * code as on Kubernetes, as separate processes talking mutual-TLS gRPC over loopback. Each client
 * reads only its own site's data file.
 */
export interface SimulateOptions {
  manifest: string;
  outDir: string;
  namespace?: string;
  /** Where the sites' data paths are resolved; the manifest's folder by default. */
  dataRoot?: string;
  /** Extra environment for the client processes (PATH for a bring-your-own trainer's interpreter). */
  clientEnv?: NodeJS.ProcessEnv;
  /** Extra environment for one site's client, by site (a test's fault point aimed at that site alone). */
  siteEnv?: Record<string, NodeJS.ProcessEnv>;
}

export interface SimulateResult {
  succeeded: boolean;
  outDir: string;
}

interface AggregatorReady {
  address: string;
  metricsAddress: string;
}

export async function simulate(options: SimulateOptions): Promise<SimulateResult> {
  const manifest = path.resolve(options.manifest);
  const job = await loadFederatedJob(manifest);
  const namespace = options.namespace ?? job.metadata.namespace ?? 'default';
  const sites = siteNames(job);
  const outDir = path.resolve(options.outDir);
  const logDir = path.join(outDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), `flotilla-simulate-${job.metadata.name}-`));
  const roles: RoleProcess[] = [];
  const stopAll = () => Promise.all(roles.map((r) => stopRole(r)));
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const creds = await issueSimulationCredentials(path.join(work, 'tls'), { namespace, name: job.metadata.name }, sites);
    const stateDir = path.join(work, 'aggregator');
    const readyFile = path.join(work, 'aggregator-ready.json');
    const jobArgs = ['--job', manifest, '--namespace', namespace];
    const aggregatorArgs = (listen: string) => [
      'aggregator', ...jobArgs, '--listen', listen, '--metrics-listen', '127.0.0.1:0', '--tls-dir', creds.aggregatorDir, '--state-dir', stateDir, '--ready-file', readyFile,
    ];
    // One address for the aggregator's whole life, restarts included: the clients keep dialling it.
    const address = `127.0.0.1:${await freePort()}`;
    let aggregator = startRole('aggregator', aggregatorArgs(address), logDir);
    roles.push(aggregator);
    // Null while it is not (yet) ready: a death before that is handled below like any other.
    let ready = await waitForReadyFile<AggregatorReady>(aggregator, readyFile).catch(() => null);
    for (const site of sites) {
      const args = ['client', ...jobArgs, '--site', site, '--aggregator', address, '--tls-dir', creds.siteDirs.get(site)!];
      args.push('--work-dir', path.join(work, `site-${site}`), '--data-root', path.resolve(options.dataRoot ?? path.dirname(manifest)));
      args.push('--audit-file', path.join(work, `site-${site}.audit.jsonl`));
      // A bring-your-own trainer's command runs in the client's working directory: the manifest's
      // folder here, as it is the image's working directory in a pod.
      roles.push(startRole(`site-${site}`, args, logDir, { env: { ...process.env, ...options.clientEnv, ...options.siteEnv?.[site] }, cwd: path.dirname(manifest) }));
    }

    const view = progressView(job.metadata.name, job.spec.rounds);
    const poll = setInterval(() => void (ready && scrapeRound(ready.metricsAddress).then((f) => f && view.update(f))), 250);
    // An aggregator that dies before the job's result is written is started again on its state dir
    // and address, as Kubernetes restarts a pod: it resumes from its checkpoint and the clients, who
    // keep asking, carry on.
    const resultFile = path.join(stateDir, RESULT_FILE);
    const backoff = new Backoff(500, 8_000);
    let code = await aggregator.exited;
    let restarts = 0;
    while (code !== 0 && code !== USAGE_ERROR && !existsSync(resultFile) && restarts < MAX_RESTARTS) {
      restarts++;
      process.stderr.write(`the aggregator was ${describeExit(code)}; restarting it on its state dir (restart ${restarts} of ${MAX_RESTARTS}), as Kubernetes would\n`);
      await sleep(backoff.next());
      await rm(readyFile, { force: true });
      aggregator = startRole(`aggregator-restart-${restarts}`, aggregatorArgs(address), logDir);
      roles.push(aggregator);
      ready = await waitForReadyFile<AggregatorReady>(aggregator, readyFile).catch(() => null);
      code = await aggregator.exited;
    }
    clearInterval(poll);
    view.stop();

    const clients = roles.filter((r) => r.name.startsWith('site-'));
    // Unref'd: a simulation run from a program of its own (a test) must not keep it alive for the grace time.
    await Promise.race([Promise.all(clients.map((c) => c.exited)), new Promise((r) => setTimeout(r, 10_000).unref())]);
    if (code !== 0) {
      process.stderr.write(`aggregator failed (${code}); last lines of ${aggregator.logFile}:\n${await logTail(aggregator)}\n`);
    }
    if (!existsSync(resultFile)) {
      const times = restarts + 1;
      process.stderr.write(`the aggregator was ${describeExit(code)} ${times} ${times === 1 ? 'time' : 'times'}; giving up: the job has no result (logs in ${logDir})\n`);
      return { succeeded: false, outDir };
    }
    const written = await writeOutputs({ job, namespace, stateDir, outDir, siteTrails: new Map(sites.map((s) => [s, path.join(work, `site-${s}.audit.jsonl`)])) });
    process.stderr.write(`${written.headline}\nwrote ${written.files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
    return { succeeded: code === 0 && written.succeeded, outDir };
  } finally {
    process.removeListener('SIGINT', onSignal);
    await stopAll();
    await rm(work, { recursive: true, force: true });
  }
}
