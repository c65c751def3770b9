/**
 * npm run bench:dataplane [-- --clients 10,20 --parameters 25600000 --tensors 25 --rounds 5 --compression Int8,TopK,0.1]
 *
 * The data plane under load: N sites exchange a synthetic float32 model with the aggregator over
 * mutual-TLS gRPC on loopback, no training, for a few rounds. For each N it prints the median round
 * time, the floor for the same bytes (raw Node TLS sockets, same certificates and process layout,
 * measured in the same run), their ratio, and the aggregator's peak RSS as a multiple of the model.
 * Targets: round time within 1.5x of the floor; peak RSS within 2.5x the model + 150 MB, flat in N.
 * --compression DOWNLOAD,UPLOAD[,TOPK_FRACTION] sets the job's spec.compression (docs/compression.md);
 * each line then also says the bytes a round moved on the wire and how many times fewer than float32.
 * The floor stays that of the unencoded bytes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { RESULT_FILE, type JobResult } from '../operator/aggregator/result.js';
import { issueSimulationCredentials } from '../operator/simulate/credentials.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../operator/cli/main.js');

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '10,20' }, parameters: { type: 'string', default: '25600000' }, tensors: { type: 'string', default: '25' }, rounds: { type: 'string', default: '5' }, compression: { type: 'string' } },
});
const compression = values.compression ? compressionOf(values.compression) : undefined;

function compressionOf(text: string): Record<string, unknown> {
  const [download, upload, fraction] = text.split(',');
  return { download, upload, ...(fraction ? { topKFraction: Number(fraction) } : {}) };
}
const parameters = Number(values.parameters);
const tensors = Number(values.tensors);
const rounds = Number(values.rounds);
const modelBytes = parameters * 4;
const MB = 1e6;

function start(args: string[], logFile?: string): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', logFile ? 'pipe' : 'inherit'] });
  if (logFile) child.stderr!.on('data', () => {}); // drained; the client's logs are not needed here
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited };
}

async function waitForFile(file: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await readFile(file, 'utf8');
    } catch {
      if (Date.now() > deadline) throw new Error(`${file} did not appear`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Peak resident set (VmHWM) of a process, followed until it exits. */
function followPeakRss(pid: number): { stop(): number } {
  let peak = 0;
  const sample = async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kb * 1024);
  };
  const timer = setInterval(() => void sample(), 100);
  return { stop: () => (clearInterval(timer), peak) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function floorSeconds(dir: string, tlsDirs: { server: string; clients: string[] }): Promise<number> {
  // One ready file per run: a stale one from the previous N would send the clients to a closed port.
  const ready = path.join(dir, `floor-ready-${tlsDirs.clients.length}.json`);
  const server = spawn(process.execPath, [path.join(here, 'tls-floor.js'), 'server', tlsDirs.server, String(modelBytes), String(tlsDirs.clients.length), ready], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  const { port } = JSON.parse(await waitForFile(ready));
  const clients = tlsDirs.clients.map((t) => start([path.join(here, 'tls-floor.js'), 'client', t, String(modelBytes), `127.0.0.1:${port}`]));
  await Promise.all([once(server, 'exit'), ...clients.map((c) => c.exited)]);
  return Number(out.trim());
}

async function dataPlane(dir: string, n: number, creds: { aggregatorDir: string; siteDirs: Map<string, string> }, sites: string[]) {
  const manifest = path.join(dir, `bench-${n}.yaml`);
  await writeFile(
    manifest,
    JSON.stringify({
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'FederatedJob',
      metadata: { name: 'bench', namespace: 'bench' },
      spec: { sites: { names: sites }, rounds, minSites: n, roundDeadlineSeconds: 3600, heartbeatTimeoutSeconds: 600, trainer: { command: ['synthetic'] }, ...(compression ? { compression } : {}) },
    }),
  );
  const stateDir = path.join(dir, `state-${n}`);
  const ready = path.join(dir, `ready-${n}.json`);
  const aggregator = start([cli, 'aggregator', '--job', manifest, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--tls-dir', creds.aggregatorDir, '--state-dir', stateDir, '--ready-file', ready], 'quiet');
  const rss = followPeakRss(aggregator.child.pid!);
  const { address } = JSON.parse(await waitForFile(ready));
  const clients = sites.map((site, i) =>
    start([path.join(here, 'dataplane-client.js'), address, creds.siteDirs.get(site)!, site, String(i), String(parameters), String(tensors)], 'quiet'),
  );
  const code = await aggregator.exited;
  const peak = rss.stop();
  await Promise.all(clients.map((c) => c.exited));
  if (code !== 0) throw new Error(`the aggregator exited with ${code}`);
  const result = JSON.parse(await readFile(path.join(stateDir, RESULT_FILE), 'utf8')) as JobResult;
  const wire = median(result.rounds.map((r) => (r.traffic ? r.traffic.downloadBytes + r.traffic.uploadBytes : 0)));
  const factor = median(result.rounds.map((r) => r.traffic?.factor ?? 1));
  return { roundSeconds: median(result.rounds.map((r) => r.durationSeconds)), all: result.rounds.map((r) => r.durationSeconds), peak, wire, factor };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-bench-'));
try {
  console.log(
    `model: ${parameters.toLocaleString('en')} float32 parameters in ${tensors} tensors = ${(modelBytes / MB).toFixed(1)} MB; ${rounds} rounds; ` +
      `compression ${values.compression ?? 'none'}; node ${process.version}; ${os.cpus().length} cores`,
  );
  for (const n of values.clients!.split(',').map(Number)) {
    const sites = Array.from({ length: n }, (_, i) => `site-${String(i + 1).padStart(2, '0')}`);
    const creds = await issueSimulationCredentials(path.join(dir, `tls-${n}`), { namespace: 'bench', name: 'bench' }, sites);
    const floor = await floorSeconds(dir, { server: creds.aggregatorDir, clients: sites.map((s) => creds.siteDirs.get(s)!) });
    const run = await dataPlane(dir, n, creds, sites);
    const bytesPerRound = 2 * n * modelBytes;
    console.log(
      [
        `clients ${n}:`,
        `round median ${run.roundSeconds.toFixed(2)} s (rounds ${run.all.map((s) => s.toFixed(2)).join(' ')}; ${((bytesPerRound / MB) / run.roundSeconds).toFixed(0)} MB/s)`,
        `floor ${floor.toFixed(2)} s (raw TLS, same ${(bytesPerRound / MB).toFixed(0)} MB; ${((bytesPerRound / MB) / floor).toFixed(0)} MB/s)`,
        `ratio ${(run.roundSeconds / floor).toFixed(2)}x (target 1.5x)`,
        `on the wire ${(run.wire / MB).toFixed(1)} MB a round (${run.factor.toFixed(2)}x fewer bytes than float32${compression ? `: ${values.compression}` : ''})`,
        `aggregator peak RSS ${(run.peak / MB).toFixed(0)} MB = ${(run.peak / modelBytes).toFixed(2)}x model (target ${((2.5 * modelBytes + 150 * MB) / MB).toFixed(0)} MB = 2.5x + 150 MB)`,
      ].join('\n  '),
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
