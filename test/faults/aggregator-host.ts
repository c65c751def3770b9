/**
 * The aggregator a hostile-site run talks to: in this process (quick, and what it allocates shows
 * in this process's memory) or as its own process of the built CLI (whose resident memory can be
 * measured alone).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { JobSettings } from '../../operator/aggregator/job-settings.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import { startRole, stopRole, waitForReadyFile } from '../../operator/simulate/processes.js';
import { memoryLogger, NAMESPACE } from '../dataplane/fixtures.js';

export interface AggregatorHost {
  address: string;
  /** The aggregator's process (null when it runs in this one). */
  pid: number | null;
  /** What it logged so far: its lines, and their bytes. */
  logLines(): Record<string, unknown>[];
  logBytes(): number;
  /** Resolves once the job is over: the aggregator finished, or (a process) wrote the job's result. */
  ended(): Promise<void>;
  close(): Promise<void>;
}

export async function inProcessAggregator(settings: JobSettings, tlsDir: string, stateDir: string): Promise<AggregatorHost> {
  const { log, lines } = memoryLogger();
  const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir, stateDir, log });
  return {
    address: aggregator.ready.address,
    pid: null,
    logLines: () => lines,
    logBytes: () => lines.reduce((n, l) => n + JSON.stringify(l).length + 1, 0),
    ended: async () => void (await aggregator.outcome),
    close: () => aggregator.close(),
  };
}

/** `flotilla aggregator` for the FederatedJob `manifest`, its log in dir. */
export async function aggregatorProcess(manifest: object, tlsDir: string, stateDir: string, dir: string): Promise<AggregatorHost> {
  const jobFile = path.join(dir, 'job.yaml');
  await writeFile(jobFile, YAML.stringify(manifest));
  const readyFile = path.join(dir, 'ready.json');
  const args = ['aggregator', '--job', jobFile, '--namespace', NAMESPACE, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'];
  const role = startRole('aggregator', [...args, '--tls-dir', tlsDir, '--state-dir', stateDir, '--ready-file', readyFile], dir);
  const ready = await waitForReadyFile<{ address: string }>(role, readyFile);
  const text = () => readFileSync(role.logFile, 'utf8');
  return {
    address: ready.address,
    pid: role.child.pid!,
    logLines: () =>
      text()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    logBytes: () => statSync(role.logFile).size,
    // Not its exit: open connections may hold a process up to Node's TLS handshake timeout (120 s).
    ended: async () => {
      let exited = false;
      void role.exited.then(() => (exited = true));
      while (!exited && !existsSync(path.join(stateDir, 'result.json'))) await new Promise((r) => setTimeout(r, 50));
      // The result is written before the job's end is told: let the sites hear it.
      await Promise.race([role.exited, new Promise((r) => setTimeout(r, 1_000))]);
    },
    close: () => stopRole(role),
  };
}
