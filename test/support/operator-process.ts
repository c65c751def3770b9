/**
 * `flotilla operator` as a real process of this checkout's built CLI, for integration tests: its
 * log in a file, its health endpoints on a port of its own, stoppable gracefully (SIGTERM) or not
 * (SIGKILL, as a crashed node would).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';

export interface OperatorProcessOptions {
  kubeconfigPath: string;
  /** The operator's namespace (Lease, root CA, join tokens). */
  namespace: string;
  identity: string;
  logFile: string;
  gatewayPort: number;
  enrollmentPort: number;
  /** Further flags (--image, --aggregator-service-type, ...). */
  args?: string[];
}

export interface OperatorProcess {
  identity: string;
  healthPort: number;
  child: ChildProcess;
  exited: Promise<number | string>;
  /** GET /readyz: 200 once its caches are synced (a standby's too). */
  isReady(): Promise<boolean>;
  /** GET /leaderz: 200 while it leads. */
  isLeading(): Promise<boolean>;
  metrics(): Promise<string>;
  /** flotilla_reconcile_total of one controller, summed over the results given (default: all). */
  reconciles(controller: string, results?: string[]): Promise<number>;
  log(): Promise<string>;
  /** SIGTERM and wait (SIGKILL after graceMs). */
  stop(graceMs?: number): Promise<number | string>;
  kill(): Promise<number | string>;
}

export async function startOperator(o: OperatorProcessOptions): Promise<OperatorProcess> {
  const healthPort = await freePort();
  const args = [
    path.join(packageRoot, 'dist/operator/cli/main.js'),
    'operator',
    `--kubeconfig=${o.kubeconfigPath}`,
    `--namespace=${o.namespace}`,
    `--identity=${o.identity}`,
    `--listen-health=127.0.0.1:${healthPort}`,
    `--gateway-listen=127.0.0.1:${o.gatewayPort}`,
    `--enrollment-listen=127.0.0.1:${o.enrollmentPort}`,
    ...(o.args ?? []),
  ];
  const log = createWriteStream(o.logFile, { flags: 'a' });
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLOTILLA_LOG_LEVEL: 'debug' } });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  void exited.then(() => log.end());
  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`http://127.0.0.1:${healthPort}${url}`, { timeout: 2_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.once('timeout', () => req.destroy(new Error('timeout'))).once('error', reject);
      req.end();
    });
  const stop = async (signal: NodeJS.Signals, graceMs: number) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return {
    identity: o.identity,
    healthPort,
    child,
    exited,
    isReady: () => get('/readyz').then((r) => r.status === 200, () => false),
    isLeading: () => get('/leaderz').then((r) => r.status === 200, () => false),
    metrics: () => get('/metrics').then((r) => r.body),
    reconciles: async (controller, results) => reconcileCount(await get('/metrics').then((r) => r.body), controller, results),
    log: () => readFile(o.logFile, 'utf8').catch(() => ''),
    stop: (graceMs = 30_000) => stop('SIGTERM', graceMs),
    kill: () => stop('SIGKILL', 0),
  };
}

function reconcileCount(metrics: string, controller: string, results?: string[]): number {
  let total = 0;
  for (const [, c, result, n] of metrics.matchAll(/^flotilla_reconcile_total\{controller="([^"]+)",result="([^"]+)"\} (\d+)$/gm)) {
    if (c === controller && (!results || results.includes(result!))) total += Number(n);
  }
  return total;
}

const handedOut = new Set<number>();

/** A free loopback port, never handed out twice by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer().once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}
