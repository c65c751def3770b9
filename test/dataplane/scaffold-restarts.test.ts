/**
 * SCAFFOLD's control variates across restarts, as real processes of the built CLI (run `npm run
 * build` first): a client killed with SIGKILL mid-job and started again on a fresh work dir and its
 * state dir, as a pod rescheduled on another node (a new scratch volume, the site's state claim),
 * then the aggregator killed and restarted on its state dir. The server's c comes back from the
 * checkpoint, each site's c_i from its state dir, a re-run round starts from the same c_i as the
 * first time, and the job ends with the very model bytes and the very c_i files of an uninterrupted
 * run.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { startRole, waitForReadyFile, type RoleProcess } from '../../operator/simulate/processes.js';
import { scrapeRound } from '../../operator/simulate/progress.js';
import { NAMESPACE, TestPki, tempDir } from './fixtures.js';

const EXAMPLE = path.join(packageRoot, 'examples/heart-disease');
const SITES = ['cleveland', 'hungarian', 'switzerland', 'va'];
const KILLED_SITE = 'hungarian';
const ROUNDS = 6;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

async function roundReached(metricsAddress: string, round: number): Promise<void> {
  while (((await scrapeRound(metricsAddress).catch(() => null))?.round ?? 0) < round) await new Promise((r) => setTimeout(r, 10));
}

describe('SCAFFOLD across restarts', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let manifest: string;
  let aggregatorTls: string;
  const siteTls = new Map<string, string>();
  const running: RoleProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(path.join(packageRoot, 'dist/operator/cli/main.js'))) throw new Error('this test runs the built CLI: run `npm run build` first');
    tmp = await tempDir('scaffold-restarts');
    const job = YAML.parse(await readFile(path.join(EXAMPLE, 'federatedjob.yaml'), 'utf8'));
    job.metadata = { name: 'heart', namespace: NAMESPACE };
    // Heartbeats longer than a restart takes: no site is dropped for it, so both runs aggregate the same sites every round.
    Object.assign(job.spec, { rounds: ROUNDS, minSites: 4, heartbeatTimeoutSeconds: 20, roundDeadlineSeconds: 60, strategy: { name: 'SCAFFOLD' } });
    job.spec.trainer.localEpochs = 2;
    manifest = path.join(tmp.dir, 'job.yaml');
    await writeFile(manifest, YAML.stringify(job));
    const pki = await TestPki.create(tmp.dir, 'heart');
    aggregatorTls = await pki.aggregator();
    for (const site of SITES) siteTls.set(site, await pki.client(site));
  });

  afterAll(async () => {
    // Whatever failed, no process of ours outlives the test.
    for (const role of running) role.child.kill('SIGKILL');
    await Promise.all(running.map((r) => r.exited));
    await tmp.remove();
  });

  const start = (name: string, args: string[]) => {
    const role = startRole(name, args, tmp.dir);
    running.push(role);
    return role;
  };

  /** Runs the job; with `interrupt`, a client and then the aggregator are killed and started again. */
  async function run(name: string, interrupt: boolean): Promise<string> {
    const dir = path.join(tmp.dir, name);
    const stateDir = path.join(dir, 'state');
    const readyFile = path.join(dir, 'ready.json');
    const port = await freePort();
    const jobArgs = ['--job', manifest, '--namespace', NAMESPACE];
    const aggregatorArgs = ['aggregator', ...jobArgs, '--listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${await freePort()}`];
    aggregatorArgs.push('--tls-dir', aggregatorTls, '--state-dir', stateDir, '--ready-file', readyFile);
    let aggregator = start(`${name}-aggregator`, aggregatorArgs);
    const ready = await waitForReadyFile<{ address: string; metricsAddress: string }>(aggregator, readyFile);
    const clientArgs = (site: string, work = 'work') => [
      ...['client', ...jobArgs, '--site', site, '--aggregator', ready.address, '--tls-dir', siteTls.get(site)!],
      ...['--work-dir', path.join(dir, site, work), '--state-dir', path.join(dir, site, 'state'), '--data-root', EXAMPLE],
    ];
    const clients = new Map(SITES.map((site) => [site, start(`${name}-${site}`, clientArgs(site))]));
    if (interrupt) {
      await roundReached(ready.metricsAddress, 2);
      const client = clients.get(KILLED_SITE)!;
      client.child.kill('SIGKILL');
      await client.exited;
      clients.set(KILLED_SITE, start(`${name}-${KILLED_SITE}-restarted`, clientArgs(KILLED_SITE, 'work-of-the-new-pod')));
      await roundReached(ready.metricsAddress, 4);
      aggregator.child.kill('SIGKILL');
      await aggregator.exited;
      aggregator = start(`${name}-aggregator-restarted`, aggregatorArgs);
    }
    expect(await aggregator.exited).toBe(0);
    expect(await Promise.all([...clients.values()].map((c) => c.exited))).toEqual(SITES.map(() => 0));
    return dir;
  }

  it('ends with the model and the sites’ control variates of an uninterrupted run, bit for bit', async () => {
    const straight = await run('straight', false);
    const killed = await run('killed', true);

    const resultOf = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'state', 'result.json'), 'utf8')) as JobResult;
    const [a, b] = await Promise.all([resultOf(straight), resultOf(killed)]);
    expect(b.status).toBe('Succeeded');
    expect(b.rounds.map((r) => r.round)).toEqual([...Array(ROUNDS).keys()].map((i) => i + 1));
    expect(b.rounds.map((r) => r.participants)).toEqual(a.rounds.map((r) => r.participants));
    const model = (dir: string) => readFile(path.join(dir, 'state', 'model.safetensors'));
    expect((await model(killed)).equals(await model(straight))).toBe(true);
    for (const site of SITES) {
      const folder = (dir: string) => path.join(dir, site, 'state', 'control-variates');
      const files = await readdir(folder(killed));
      expect(files).toEqual(await readdir(folder(straight)));
      expect(files).toContain(`round-${String(ROUNDS).padStart(6, '0')}.safetensors`);
      for (const file of files) expect((await readFile(path.join(folder(killed), file))).equals(await readFile(path.join(folder(straight), file)))).toBe(true);
    }
    // Both restarts happened: the restarted client found its c_i, the restarted aggregator resumed.
    expect(await readFile(path.join(tmp.dir, 'killed-aggregator-restarted.log'), 'utf8')).toContain('resuming from checkpoint');
    expect(existsSync(path.join(tmp.dir, `killed-${KILLED_SITE}-restarted.log`))).toBe(true);
  }, 120_000);
});
