/**
 * spec.compression end to end in one process: a real aggregator, real clients (the task loop, the
 * built-in trainer on two heart-disease hospitals, an MLP of about 160k parameters so that the model
 * is most of the traffic), mutual TLS through a TCP proxy that counts every byte each way. The
 * factors are counted on the wire; the top-k residual is shown to be kept across rounds and across a
 * client restart by the final model's bytes.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { jest } from '@jest/globals';
import net from 'node:net';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { loadFederatedJob, parseFederatedJob, type FederatedJob } from '../../operator/api/federatedjob.js';
import { jobSettings } from '../../operator/aggregator/job-settings.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { AggregatorConnection } from '../../operator/client/connection.js';
import { TaskLoop } from '../../operator/client/task-loop.js';
import { trainerForJob } from '../../operator/client/trainer-for-job.js';
import { NAMESPACE, TestPki, memoryLogger, tempDir } from './fixtures.js';

jest.setTimeout(120_000);

const SITES = ['cleveland', 'hungarian'];
const ROUNDS = 3;
const dataRoot = path.join(packageRoot, 'examples/heart-disease');

/** A TCP proxy in front of the aggregator, counting the bytes of every connection each way. */
async function countingProxy(target: string): Promise<{ address: string; up: () => number; down: () => number; close(): Promise<void> }> {
  const [host, port] = target.split(':') as [string, string];
  let up = 0;
  let down = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (b: Buffer) => (up += b.length));
    upstream.on('data', (b: Buffer) => (down += b.length));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    up: () => up,
    down: () => down,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let base: FederatedJob;
beforeAll(async () => {
  base = await loadFederatedJob(path.join(dataRoot, 'federatedjob.yaml'));
});

function job(name: string, compression: Record<string, unknown> | undefined): FederatedJob {
  const spec = structuredClone(base.spec) as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  spec.sites = { names: SITES, overrides: spec.sites.overrides.filter((o: { site: string }) => SITES.includes(o.site)) };
  spec.rounds = ROUNDS;
  spec.minSites = 2;
  spec.roundDeadlineSeconds = 90;
  spec.trainer.builtin.model = 'MLP';
  spec.trainer.builtin.hiddenUnits = [2048, 24];
  // No statistics phase: a site can train round 1 while the other has not started (the restart test).
  spec.trainer.builtin.dataset.standardize = 'Local';
  if (compression) spec.compression = compression;
  return parseFederatedJob({ apiVersion: base.apiVersion, kind: base.kind, metadata: { name, namespace: NAMESPACE }, spec });
}

interface Run {
  /** Bytes through the proxy: client to aggregator, aggregator to client. */
  up: number;
  down: number;
  result: JobResult;
  modelSha256: string;
  workDirs: Map<string, string>;
}

/**
 * Runs a job to its end. With `restart`, the first site's client is stopped once its round-1 update
 * was accepted (its residual file written), before the other site starts, and started again on the
 * same work dir; 'forget' deletes its residual file meanwhile.
 */
async function run(j: FederatedJob, options: { restart?: 'keep' | 'forget' } = {}): Promise<Run> {
  const tmp = await tempDir(`compression-${j.metadata.name}`);
  const pki = await TestPki.create(tmp.dir, j.metadata.name);
  const { log } = memoryLogger();
  const stateDir = path.join(tmp.dir, 'state');
  const aggregator = await startAggregator(jobSettings(j, NAMESPACE), { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log });
  const proxy = await countingProxy(aggregator.ready.address);
  const workDirs = new Map(SITES.map((s) => [s, path.join(tmp.dir, `site-${s}`)]));
  const stops: AbortController[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  const startClient = async (site: string) => {
    const stop = new AbortController();
    stops.push(stop);
    const trainer = await trainerForJob(j, site, dataRoot, workDirs.get(site)!);
    const connection = await AggregatorConnection.dial(proxy.address, await pki.client(site), { namespace: NAMESPACE, job: j.metadata.name });
    stop.signal.addEventListener('abort', () => connection.close(), { once: true });
    closers.push(() => connection.close(), () => trainer.close());
    const loop = new TaskLoop(connection, trainer, log, { clientVersion: 'test', signal: stop.signal, pollMs: 1_000, residualFile: path.join(workDirs.get(site)!, 'topk-residual.safetensors') });
    return { stop, done: loop.run() };
  };
  try {
    const [first, second] = SITES as [string, string];
    const firstClient = await startClient(first);
    let running = [firstClient.done];
    if (options.restart) {
      const residualFile = path.join(workDirs.get(first)!, 'topk-residual.safetensors');
      for (const until = Date.now() + 60_000; !(await stat(residualFile).catch(() => null)); ) {
        if (Date.now() > until) throw new Error(`${first} wrote no residual`);
        await new Promise((r) => setTimeout(r, 50));
      }
      firstClient.stop.abort();
      await firstClient.done;
      if (options.restart === 'forget') await rm(residualFile);
      running = [(await startClient(first)).done];
    }
    running.push((await startClient(second)).done);
    const outcomes = await Promise.all(running);
    for (const o of outcomes) expect(o).toMatchObject({ succeeded: true });
    await aggregator.outcome;
    const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
    const modelSha256 = createHash('sha256').update(await readFile(path.join(stateDir, result.model!))).digest('hex');
    return { up: proxy.up(), down: proxy.down(), result, modelSha256, workDirs };
  } finally {
    for (const s of stops) s.abort();
    for (const c of closers) await c();
    await proxy.close();
    await aggregator.close();
    await tmp.remove();
  }
}

describe('compression on the wire', () => {
  let plain: Run;
  /**
   * How many times fewer bytes the rounds' downloads took than unencoded ones, through the proxy. The
   * final evaluation's download (one per site) goes unencoded in both runs: it is taken out, at what
   * one unencoded download took.
   */
  const trainDownloadFactor = (compressed: Run) => {
    const download = plain.down / ((ROUNDS + 1) * SITES.length);
    return (ROUNDS * SITES.length * download) / (compressed.down - SITES.length * download);
  };
  beforeAll(async () => {
    plain = await run(job('plain', undefined));
  });

  it('sends FP16 downloads in half the bytes and Int8 uploads in a quarter, counted through a proxy, and still trains', async () => {
    const compressed = await run(job('fp16-int8', { download: 'FP16', upload: 'Int8' }));
    expect(trainDownloadFactor(compressed)).toBeGreaterThan(1.9);
    expect(plain.up / compressed.up).toBeGreaterThan(3.6);
    // The aggregator's own account of each round agrees with the proxy's (which adds TLS, HTTP/2 and headers).
    const recorded = compressed.result.rounds.reduce((n, r) => n + r.traffic!.uploadBytes, 0);
    expect(recorded).toBeLessThanOrEqual(compressed.up);
    expect(recorded / compressed.up).toBeGreaterThan(0.9);
    expect(compressed.result.rounds[0]!.traffic!.downloadError).toBeGreaterThan(0);
    expect(compressed.result.rounds[0]!.traffic!.downloadError).toBeLessThan(1e-3);
    expect(compressed.result.finalEvaluation!.eval!.accuracy).toBeGreaterThan(plain.result.finalEvaluation!.eval!.accuracy - 0.05);
  });

  it('sends Int8 downloads in a quarter and top-k (10%) uploads in a fifth', async () => {
    const compressed = await run(job('int8-topk', { download: 'Int8', upload: 'TopK', topKFraction: 0.1 }));
    expect(trainDownloadFactor(compressed)).toBeGreaterThan(3.6);
    expect(plain.up / compressed.up).toBeGreaterThan(4.5);
    const factor = compressed.result.rounds.at(-1)!.traffic!.factor!;
    expect(factor).toBeGreaterThan(4);
  });

  it("keeps top-k's residual across rounds and across a client restart: the final model is the same bytes", async () => {
    const topK = { upload: 'TopK', topKFraction: 0.05 };
    const uninterrupted = await run(job('topk', topK));
    const restarted = await run(job('topk', topK), { restart: 'keep' });
    expect(restarted.modelSha256).toBe(uninterrupted.modelSha256);
    // Without its residual the restarted site's round-2 update is another one, and so is the model:
    // the residual of round 1 is what round 2 sends on.
    const forgotten = await run(job('topk', topK), { restart: 'forget' });
    expect(forgotten.modelSha256).not.toBe(uninterrupted.modelSha256);
  });
});
