/**
 * npm run bench:dataplane [-- --clients 10,20 --parameters 25600000 --tensors 25 --rounds 5 --rtt-ms 0 --compression Int8,TopK,0.1 --aggregation plain --logs DIR]
 *
 * The data plane under load: N sites exchange a synthetic float32 model with the aggregator over
 * mutual-TLS gRPC on loopback, no training, for a few rounds. For each N it prints the median round
 * time, the floor for the same bytes (raw Node TLS sockets, same certificates and process layout,
 * measured in the same run), their ratio, and the aggregator's and the clients' peak RSS as multiples
 * of the model. Targets: round time within 1.5x of the floor, the cost per byte flat in N (within 15%
 * from the smallest N to the largest); peak RSS within 2x the model + 150 MB, flat in N.
 * A model past 2 GiB in one tensor: --parameters 600000000 --tensors 1 --clients 2.
 * With --rtt-ms, every connection of both (floor and data plane) goes through a delay proxy on
 * loopback adding that round-trip time (delay-proxy.ts), and the sites' own download and upload
 * throughput is printed against raw TLS's through the same proxy. Target: within 2x.
 * --compression DOWNLOAD,UPLOAD[,TOPK_FRACTION] sets the job's spec.compression (docs/compression.md);
 * each line then also says the bytes a round moved on the wire and how many times fewer than float32.
 * The floor stays that of the unencoded bytes.
 * --aggregation central-dp runs the job under central DP (the aggregator clips each update and
 * noises the sum), secagg under secure aggregation (every other site a neighbour, the threshold a
 * bare majority), secagg+ with 4 neighbours and threshold 3: their round times against plain's are
 * what they cost.
 * --logs DIR keeps what every process of the data plane printed, as DIR/N-NAME.log.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { RESULT_FILE, type JobResult } from '../operator/aggregator/result.js';
import { issueSimulationCredentials } from '../operator/simulate/credentials.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../operator/cli/main.js');

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10,20' },
    parameters: { type: 'string', default: '25600000' },
    tensors: { type: 'string', default: '25' },
    rounds: { type: 'string', default: '5' },
    'rtt-ms': { type: 'string', default: '0' },
    compression: { type: 'string' },
    aggregation: { type: 'string', default: 'plain' },
    logs: { type: 'string' },
  },
});
const compression = values.compression ? compressionOf(values.compression) : undefined;
const aggregation = values.aggregation!;
if (!['plain', 'central-dp', 'secagg', 'secagg+'].includes(aggregation)) throw new Error(`--aggregation is plain, central-dp, secagg or secagg+, not ${aggregation}`);

function compressionOf(text: string): Record<string, unknown> {
  const [download, upload, fraction] = text.split(',');
  return { download, upload, ...(fraction ? { topKFraction: Number(fraction) } : {}) };
}
const parameters = Number(values.parameters);
const tensors = Number(values.tensors);
const rounds = Number(values.rounds);
const rttMs = Number(values['rtt-ms']);
const modelBytes = parameters * 4;
const MB = 1e6;
/** The memory target of aggregator and clients alike: twice the model and 150 MB. */
const memoryTarget = 2 * modelBytes + 150 * MB;

interface Started {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** What it printed on stdout, and on stderr unless that was left to the terminal. */
  output(): { stdout: string; stderr: string };
}

/** Every process the benchmark started: none may outlive it, even when it fails midway. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function spawnTracked(args: string[], stdio: StdioOptions): ChildProcess {
  const child = spawn(process.execPath, args, { stdio });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function start(args: string[], logs: 'quiet' | 'terminal' = 'terminal'): Started {
  const child = spawnTracked(args, ['ignore', 'pipe', logs === 'quiet' ? 'pipe' : 'inherit']);
  let [stdout, stderr] = ['', ''];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** A delay proxy in front of `target` when the run asks for one; the address to dial instead. */
async function link(dir: string, target: string, name: string): Promise<{ address: string; stop(): void }> {
  if (rttMs <= 0) return { address: target, stop: () => undefined };
  const ready = path.join(dir, `proxy-${name}.json`);
  const proxy = start([path.join(here, 'delay-proxy.js'), target, String(rttMs), ready]);
  const { port } = await waitForJson<{ port: number }>(ready);
  return { address: `127.0.0.1:${port}`, stop: () => void proxy.child.kill('SIGTERM') };
}

/** Per-site throughput, MB/s: the median over sites (and rounds) of bytes / seconds. */
interface SiteThroughput {
  download: number;
  upload: number;
}

/** A ready file's JSON, once it is there and whole (its writer may be caught midway). */
async function waitForJson<T>(file: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as T;
    } catch {
      if (Date.now() > deadline) throw new Error(`${file} did not appear whole within ${timeoutMs / 1000}s`);
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

async function floorRun(dir: string, tlsDirs: { server: string; clients: string[] }): Promise<{ seconds: number; perSite: SiteThroughput }> {
  // One ready file per run: a stale one from the previous N would send the clients to a closed port.
  const ready = path.join(dir, `floor-ready-${tlsDirs.clients.length}.json`);
  const server = spawnTracked([path.join(here, 'tls-floor.js'), 'server', tlsDirs.server, String(modelBytes), String(tlsDirs.clients.length), ready], ['ignore', 'pipe', 'inherit']);
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  const { port } = await waitForJson<{ port: number }>(ready);
  const proxy = await link(dir, `127.0.0.1:${port}`, `floor-${tlsDirs.clients.length}`);
  const clients = tlsDirs.clients.map((t) => start([path.join(here, 'tls-floor.js'), 'client', t, String(modelBytes), proxy.address]));
  await Promise.all([once(server, 'exit'), ...clients.map((c) => c.exited)]);
  proxy.stop();
  const timings = clients.map((c) => JSON.parse(c.output().stdout) as { downloadSeconds: number; uploadSeconds: number });
  return {
    seconds: Number(out.trim()),
    perSite: { download: median(timings.map((t) => modelBytes / MB / t.downloadSeconds)), upload: median(timings.map((t) => modelBytes / MB / t.uploadSeconds)) },
  };
}

/** The sites' own figures from their logs: each model received and each update sent, bytes over seconds. */
function siteThroughput(logs: string[]): SiteThroughput {
  const rates = { 'model received': [] as number[], 'update sent': [] as number[] };
  for (const line of logs.join('\n').split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { message?: string; bytes?: number; seconds?: number };
    if ((entry.message === 'model received' || entry.message === 'update sent') && entry.bytes && entry.seconds) {
      rates[entry.message].push(entry.bytes / MB / entry.seconds);
    }
  }
  return { download: median(rates['model received']), upload: median(rates['update sent']) };
}

async function dataPlane(dir: string, n: number, creds: { aggregatorDir: string; siteDirs: Map<string, string> }, sites: string[]) {
  const manifest = path.join(dir, `bench-${n}.yaml`);
  await writeFile(
    manifest,
    JSON.stringify({
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'FederatedJob',
      metadata: { name: 'bench', namespace: 'bench' },
      spec: {
        sites: { names: sites },
        rounds,
        minSites: n,
        roundDeadlineSeconds: 3600,
        heartbeatTimeoutSeconds: 600,
        trainer: { command: ['synthetic'] },
        ...(compression ? { compression } : {}),
        ...(aggregation === 'central-dp' ? { privacy: { mode: 'Central', noiseMultiplier: 1, delta: 1e-5, clipping: { l2Norm: 10 } } } : {}),
        ...(aggregation === 'secagg' ? { secureAggregation: { threshold: Math.floor((n - 1) / 2) + 1, clippingRange: 10, stageTimeoutSeconds: 600 } } : {}),
        ...(aggregation === 'secagg+' ? { secureAggregation: { threshold: 3, neighbours: 4, clippingRange: 10, stageTimeoutSeconds: 600 } } : {}),
      },
    }),
  );
  const stateDir = path.join(dir, `state-${n}`);
  const ready = path.join(dir, `ready-${n}.json`);
  const aggregator = start([cli, 'aggregator', '--job', manifest, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--tls-dir', creds.aggregatorDir, '--state-dir', stateDir, '--ready-file', ready], 'quiet');
  const rss = followPeakRss(aggregator.child.pid!);
  const clientRss: { stop(): number }[] = [];
  const { address } = await waitForJson<{ address: string }>(ready);
  const proxy = await link(dir, address, `aggregator-${n}`);
  const clients = sites.map((site, i) =>
    start([path.join(here, 'dataplane-client.js'), proxy.address, creds.siteDirs.get(site)!, site, String(i), String(parameters), String(tensors), aggregation], 'quiet'),
  );
  for (const c of clients) clientRss.push(followPeakRss(c.child.pid!));
  const code = await aggregator.exited;
  const peak = rss.stop();
  await Promise.all(clients.map((c) => c.exited));
  const clientPeak = Math.max(...clientRss.map((r) => r.stop()));
  proxy.stop();
  if (values.logs) {
    await mkdir(values.logs, { recursive: true });
    const all = [['aggregator', aggregator] as const, ...clients.map((c, i) => [sites[i]!, c] as const)];
    await Promise.all(all.map(([name, p]) => writeFile(path.join(values.logs!, `${n}-${name}.log`), p.output().stdout + p.output().stderr)));
  }
  if (code !== 0) {
    const tail = ({ stdout, stderr }: { stdout: string; stderr: string }) => (stdout + stderr).trim().split('\n').slice(-15).join('\n');
    const logs = [['aggregator', aggregator] as const, ...clients.map((c, i) => [sites[i]!, c] as const)].map(([name, p]) => `--- ${name}\n${tail(p.output())}`);
    throw new Error(`the aggregator exited with ${code}; the last lines each process printed:\n${logs.join('\n')}`);
  }
  const result = JSON.parse(await readFile(path.join(stateDir, RESULT_FILE), 'utf8')) as JobResult;
  const perSite = siteThroughput(clients.map((c) => c.output().stderr));
  const wire = median(result.rounds.map((r) => (r.traffic ? r.traffic.downloadBytes + r.traffic.uploadBytes : 0)));
  const factor = median(result.rounds.map((r) => r.traffic?.factor ?? 1));
  return { roundSeconds: median(result.rounds.map((r) => r.durationSeconds)), all: result.rounds.map((r) => r.durationSeconds), peak, clientPeak, perSite, wire, factor };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-bench-'));
try {
  console.log(
    `model: ${parameters.toLocaleString('en')} float32 parameters in ${tensors} tensors = ${(modelBytes / MB).toFixed(1)} MB; ${rounds} rounds; ` +
      `compression ${values.compression ?? 'none'}; aggregation ${aggregation}; node ${process.version}; ${os.cpus().length} cores`,
  );
  if (rttMs > 0) console.log(`every connection through a delay proxy adding ${rttMs} ms of round-trip time`);
  /** Seconds of a round per byte it moved, and the floor's, by N. */
  const costs: { n: number; perByte: number; floorPerByte: number }[] = [];
  for (const n of values.clients!.split(',').map(Number)) {
    const sites = Array.from({ length: n }, (_, i) => `site-${String(i + 1).padStart(2, '0')}`);
    const creds = await issueSimulationCredentials(path.join(dir, `tls-${n}`), { namespace: 'bench', name: 'bench' }, sites);
    const { seconds: floor, perSite: floorPerSite } = await floorRun(dir, { server: creds.aggregatorDir, clients: sites.map((s) => creds.siteDirs.get(s)!) });
    const run = await dataPlane(dir, n, creds, sites);
    const bytesPerRound = 2 * n * modelBytes;
    costs.push({ n, perByte: run.roundSeconds / bytesPerRound, floorPerByte: floor / bytesPerRound });
    console.log(
      [
        `clients ${n}:`,
        `round median ${run.roundSeconds.toFixed(2)} s (rounds ${run.all.map((s) => s.toFixed(2)).join(' ')}; ${((bytesPerRound / MB) / run.roundSeconds).toFixed(0)} MB/s)`,
        `floor ${floor.toFixed(2)} s (raw TLS, same ${(bytesPerRound / MB).toFixed(0)} MB; ${((bytesPerRound / MB) / floor).toFixed(0)} MB/s)`,
        `ratio ${(run.roundSeconds / floor).toFixed(2)}x (target 1.5x)`,
        `on the wire ${(run.wire / MB).toFixed(1)} MB a round (${run.factor.toFixed(2)}x fewer bytes than float32${compression ? `: ${values.compression}` : ''})`,
        `aggregator peak RSS ${(run.peak / MB).toFixed(0)} MB = ${(run.peak / modelBytes).toFixed(2)}x model (target ${(memoryTarget / MB).toFixed(0)} MB = 2x + 150 MB)`,
        `client peak RSS ${(run.clientPeak / MB).toFixed(0)} MB = ${(run.clientPeak / modelBytes).toFixed(2)}x model, the largest of the ${n} (target ${(memoryTarget / MB).toFixed(0)} MB)`,
        ...(['download', 'upload'] as const).map(
          (way) =>
            `per-site ${way} ${run.perSite[way].toFixed(0)} MB/s, raw TLS ${floorPerSite[way].toFixed(0)} MB/s: ${(floorPerSite[way] / run.perSite[way]).toFixed(2)}x slower${rttMs > 0 ? ' (target 2x, through the same proxy)' : ''}`,
        ),
      ].join('\n  '),
    );
  }
  if (costs.length > 1) {
    const [first, last] = [costs[0]!, costs.at(-1)!];
    const ns = (c: number) => (c * 1e9).toFixed(2);
    console.log(
      `cost per byte: ${costs.map((c) => `${ns(c.perByte)} ns at ${c.n} sites`).join(', ')}; ` +
        `${last.n} against ${first.n}: ${(last.perByte / first.perByte).toFixed(2)}x (target within 1.15x; the floor's ${(last.floorPerByte / first.floorPerByte).toFixed(2)}x)`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
