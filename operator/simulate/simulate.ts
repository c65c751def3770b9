import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadFederatedJob, siteNames } from '../api/federatedjob.js';
import { issueSimulationCredentials } from './credentials.js';
import { logTail, startRole, stopRole, waitForReadyFile, type RoleProcess } from './processes.js';
import { progressView, scrapeRound } from './progress.js';
import { writeOutputs } from './outputs.js';

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
    const aggregator = startRole(
      'aggregator',
      ['aggregator', ...jobArgs, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--tls-dir', creds.aggregatorDir, '--state-dir', stateDir, '--ready-file', readyFile],
      logDir,
    );
    roles.push(aggregator);
    const ready = await waitForReadyFile<AggregatorReady>(aggregator, readyFile);
    for (const site of sites) {
      const args = ['client', ...jobArgs, '--site', site, '--aggregator', ready.address, '--tls-dir', creds.siteDirs.get(site)!];
      args.push('--work-dir', path.join(work, `site-${site}`), '--data-root', path.resolve(options.dataRoot ?? path.dirname(manifest)));
      // A bring-your-own trainer's command runs in the client's working directory: the manifest's
      // folder here, as it is the image's working directory in a pod.
      roles.push(startRole(`site-${site}`, args, logDir, { env: { ...process.env, ...options.clientEnv }, cwd: path.dirname(manifest) }));
    }

    const view = progressView(job.metadata.name, job.spec.rounds);
    const poll = setInterval(() => void scrapeRound(ready.metricsAddress).then((f) => f && view.update(f)), 250);
    const code = await aggregator.exited;
    clearInterval(poll);
    view.stop();

    const clients = roles.slice(1);
    await Promise.race([Promise.all(clients.map((c) => c.exited)), new Promise((r) => setTimeout(r, 10_000))]);
    if (code !== 0) {
      process.stderr.write(`aggregator failed (${code}); last lines of ${aggregator.logFile}:\n${await logTail(aggregator)}\n`);
    }
    const written = await writeOutputs({ job, namespace, stateDir, outDir });
    process.stderr.write(`${written.headline}\nwrote ${written.files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
    return { succeeded: code === 0 && written.succeeded, outDir };
  } finally {
    process.removeListener('SIGINT', onSignal);
    await stopAll();
    await rm(work, { recursive: true, force: true });
  }
}
