/**
 * The aggregator killed with SIGKILL in the middle of a job, as real processes of the built CLI
 * (run `npm run build` first): restarted on the same state dir, it resumes from its last checkpoint,
 * the clients reconnect on their own, the job completes with every round in its history once, and
 * the final model is the one an uninterrupted run makes, bit for bit.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
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
const ROUNDS = 12;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

describe('an aggregator killed mid-job', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let manifest: string;
  let pki: TestPki;
  let aggregatorTls: string;
  const siteTls = new Map<string, string>();

  beforeAll(async () => {
    if (!existsSync(path.join(packageRoot, 'dist/operator/cli/main.js'))) throw new Error('this test runs the built CLI: run `npm run build` first');
    tmp = await tempDir('resume');
    const job = YAML.parse(await readFile(path.join(EXAMPLE, 'federatedjob.yaml'), 'utf8'));
    job.metadata = { name: 'heart', namespace: NAMESPACE };
    // A server optimiser, so that its state must survive the restart too.
    // Heartbeats longer than the clients' backoff (up to 10 s) while the aggregator is down: no site is
    // dropped merely for coming back late, so both runs aggregate the same sites in every round.
    Object.assign(job.spec, { rounds: ROUNDS, heartbeatTimeoutSeconds: 15, roundDeadlineSeconds: 30, strategy: { name: 'FedAdam', fedOpt: { serverLearningRate: 0.05 } } });
    manifest = path.join(tmp.dir, 'job.yaml');
    await writeFile(manifest, YAML.stringify(job));
    pki = await TestPki.create(tmp.dir, 'heart');
    aggregatorTls = await pki.aggregator();
    for (const site of SITES) siteTls.set(site, await pki.client(site));
  });

  afterAll(() => tmp.remove());

  /** Runs the job; `interrupt` may kill and restart the aggregator. Returns the state dir. */
  async function run(name: string, interrupt?: (aggregator: RoleProcess, metricsAddress: string) => Promise<void>): Promise<string> {
    const dir = path.join(tmp.dir, name);
    const stateDir = path.join(dir, 'state');
    const readyFile = path.join(dir, 'ready.json');
    const port = await freePort();
    const jobArgs = ['--job', manifest, '--namespace', NAMESPACE];
    const aggregatorArgs = ['aggregator', ...jobArgs, '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0'];
    aggregatorArgs.push('--tls-dir', aggregatorTls, '--state-dir', stateDir, '--ready-file', readyFile);
    let aggregator = startRole(`${name}-aggregator`, aggregatorArgs, tmp.dir);
    const ready = await waitForReadyFile<{ address: string; metricsAddress: string }>(aggregator, readyFile);
    const clients = SITES.map((site) =>
      startRole(
        `${name}-${site}`,
        ['client', ...jobArgs, '--site', site, '--aggregator', ready.address, '--tls-dir', siteTls.get(site)!, '--work-dir', path.join(dir, site), '--data-root', EXAMPLE],
        tmp.dir,
      ),
    );
    if (interrupt) {
      await rm(readyFile);
      await interrupt(aggregator, ready.metricsAddress);
      aggregator = startRole(`${name}-aggregator-restarted`, aggregatorArgs, tmp.dir);
    }
    expect(await aggregator.exited).toBe(0);
    expect(await Promise.all(clients.map((c) => c.exited))).toEqual(SITES.map(() => 0));
    return stateDir;
  }

  it('resumes from its checkpoint, and the clients carry on to the same model', async () => {
    const uninterrupted = await run('straight');

    let killedAt = 0;
    const resumed = await run('killed', async (aggregator, metricsAddress) => {
      while (killedAt < 4) {
        killedAt = (await scrapeRound(metricsAddress))?.round ?? 0;
        await new Promise((r) => setTimeout(r, 10));
      }
      aggregator.child.kill('SIGKILL');
      await aggregator.exited;
    });
    expect(killedAt).toBeLessThan(ROUNDS);

    const resultOf = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8')) as JobResult;
    const straight = await resultOf(uninterrupted);
    const again = await resultOf(resumed);
    expect(again.status).toBe('Succeeded');
    expect(again.rounds.map((r) => r.round)).toEqual([...Array(ROUNDS).keys()].map((i) => i + 1));
    expect(again.rounds.map((r) => r.participants)).toEqual(straight.rounds.map((r) => r.participants));
    // The same updates make the same sum whatever order they arrive in: the very same model bytes.
    const [a, b] = await Promise.all([uninterrupted, resumed].map((dir) => readFile(path.join(dir, 'model.safetensors'))));
    expect(a!.equals(b!)).toBe(true);
    expect(again.finalEvaluation?.eval?.accuracy).toBeCloseTo(straight.finalEvaluation!.eval!.accuracy, 6);
    const restarted = await readFile(path.join(tmp.dir, 'killed-aggregator-restarted.log'), 'utf8');
    const resumedAt = JSON.parse(restarted.split('\n').find((l) => l.includes('resuming from checkpoint'))!) as { round: number };
    expect(resumedAt.round).toBeGreaterThanOrEqual(killedAt - 1);
    expect(resumedAt.round).toBeLessThanOrEqual(killedAt + 1);
    // The clients noticed the aggregator was gone, and came back by themselves.
    const logs = await Promise.all(SITES.map((site) => readFile(path.join(tmp.dir, `killed-${site}.log`), 'utf8')));
    expect(logs.every((log) => log.includes('aggregator unreachable; trying again'))).toBe(true);
  });
});
