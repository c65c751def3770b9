/**
 * Nothing is announced before it is durable: the aggregator (a real process of the built CLI) is
 * SIGKILLed the moment a site first hears that the job is over, then restarted on the same state dir,
 * as Kubernetes would. The restarted aggregator must tell the same ending, with result.json (and, for
 * a success, the final model) on disk: a site told "succeeded" has gone home and will not evaluate again.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { startRole, waitForReadyFile, type RoleProcess } from '../../operator/simulate/processes.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import { NAMESPACE, TestPki, nextTask, rawClient, submit, taskOf, tempDir } from './fixtures.js';

/** 32 MB: the final model and checkpoint take a while to write, which is the window under test. */
const W = 8 << 20;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

function model(value: number, size = W): UpdateMessage[] {
  const data = Buffer.from(new Float32Array(size).fill(value).buffer);
  const chunks: UpdateMessage[] = [];
  for (let offset = 0; offset < data.length; offset += 1 << 20) chunks.push({ chunk: { tensor: 0, offset, data: data.subarray(offset, offset + (1 << 20)) }, body: 'chunk' });
  return chunks;
}
const headerOf = (size: number) => ({ tensors: [{ name: 'w', dtype: 'F32' as const, shape: [size] }], totalBytes: size * 4 });
const header = headerOf(W);
/** The failing job's model is small: its round must reach its 5 s deadline with the uploads long done. */
const SMALL = 1024;

/** The first task that is not WAIT, asking again while the aggregator is still coming back. */
async function firstTask(client: FederationClient): Promise<Task__Output> {
  const until = Date.now() + 30_000;
  for (;;) {
    const task = await nextTask(client).catch((err: Error) => {
      if (Date.now() > until) throw err;
      return null;
    });
    if (task && task.kind !== 'WAIT') return task;
    if (!task) await new Promise((r) => setTimeout(r, 100));
  }
}

describe('an aggregator killed as it announces the end of the job', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;

  beforeAll(async () => {
    if (!existsSync(path.join(packageRoot, 'dist/operator/cli/main.js'))) throw new Error('this test runs the built CLI: run `npm run build` first');
    tmp = await tempDir('completion');
    pki = await TestPki.create(tmp.dir, 'heart');
  });
  afterAll(() => tmp.remove());

  /**
   * Runs a one-round job of sites a and b against an aggregator process; `play` drives the sites up
   * to the job's end. The aggregator is killed as soon as site a, asking without pause, hears DONE.
   */
  async function killedAtTheEnd(name: string, spec: Record<string, unknown>, play: (a: FederationClient, b: FederationClient) => Promise<void>) {
    const dir = path.join(tmp.dir, name);
    const manifest = path.join(tmp.dir, `${name}.json`);
    const job = { apiVersion: 'flotilla.dev/v1alpha1', kind: 'FederatedJob', metadata: { name: 'heart', namespace: NAMESPACE }, spec: { sites: { names: ['a', 'b'] }, rounds: 1, minSites: 2, trainer: { command: ['true'] }, ...spec } };
    await writeFile(manifest, JSON.stringify(job));
    const readyFile = path.join(dir, 'ready.json');
    const args = ['aggregator', '--job', manifest, '--namespace', NAMESPACE, '--listen', `127.0.0.1:${await freePort()}`, '--metrics-listen', '127.0.0.1:0', '--tls-dir', await pki.aggregator()];
    args.push('--state-dir', path.join(dir, 'state'), '--ready-file', readyFile);
    let aggregator: RoleProcess = startRole(`${name}-aggregator`, args, tmp.dir);
    const { address } = await waitForReadyFile<{ address: string }>(aggregator, readyFile);
    const a = await rawClient(address, await pki.client('a'));
    const b = await rawClient(address, await pki.client('b'));
    try {
      let watching = true;
      const killed = (async () => {
        while (watching) {
          const task = await nextTask(a, 0).catch(() => null);
          if (task?.kind === 'DONE') {
            aggregator.child.kill('SIGKILL');
            return task;
          }
        }
        return null;
      })();
      await play(a, b);
      const told = await killed;
      watching = false;
      expect(told?.kind).toBe('DONE');
      expect(await aggregator.exited).toBe('SIGKILL');

      aggregator = startRole(`${name}-aggregator-restarted`, args, tmp.dir);
      const again = await Promise.all([firstTask(a), firstTask(b)]);
      // Once every site was told, the aggregator ends: 0 for a success, 1 for a failure.
      if (again.every((t) => t.kind === 'DONE')) expect(await aggregator.exited).toBe(told!.succeeded ? 0 : 1);
      const result = JSON.parse(await readFile(path.join(dir, 'state', 'result.json'), 'utf8').catch(() => 'null')) as JobResult | null;
      return { told: told!, again, result, stateDir: path.join(dir, 'state') };
    } finally {
      a.close();
      b.close();
      if (aggregator.child.exitCode === null && aggregator.child.signalCode === null) aggregator.child.kill('SIGKILL');
    }
  }

  /** Both sites send the initial model if asked, then train: a to 1, b to 3, equal weights. */
  async function train(a: FederationClient, b: FederationClient): Promise<void> {
    await Promise.all(
      [a, b].map(async (client, i) => {
        for (;;) {
          const task = await nextTask(client);
          if (task.kind === 'INITIALIZE') await submit(client, [{ header: { kind: 'INITIALIZE', round: 0, attempt: task.attempt, model: header }, body: 'header' }, ...model(0)]);
          if (task.kind === 'TRAIN') {
            const sent = await submit(client, [{ header: { kind: 'TRAIN', round: 1, attempt: task.attempt, numSamples: 5, model: header }, body: 'header' }, ...model(1 + 2 * i)]);
            expect(sent).toMatchObject({ ok: true });
            return;
          }
        }
      }),
    );
  }

  it('tells a success only once its result and final model are on disk', async () => {
    const { told, again, result, stateDir } = await killedAtTheEnd('succeeded', {}, async (a, b) => {
      await train(a, b);
      for (const client of [b, a]) {
        const task = await taskOf(client, 'EVALUATE');
        const evaluation = { kind: 'EVALUATE', round: task.round, attempt: task.attempt, eval: { numSamples: 10, loss: 0.5, accuracy: 0.75, extra: {} } } as const;
        expect(await submit(client, [{ header: evaluation, body: 'header' }])).toMatchObject({ ok: true });
      }
    });
    expect(told).toMatchObject({ succeeded: true });
    expect(again.map((t) => [t.kind, t.succeeded, t.message])).toEqual([
      ['DONE', true, told.message],
      ['DONE', true, told.message],
    ]);
    expect(result).toMatchObject({ status: 'Succeeded', reason: told.message, model: 'model.safetensors' });
    const { model: final } = await readSafetensors(path.join(stateDir, 'model.safetensors'));
    expect(final[0]!.data.every((v) => v === 2)).toBe(true);
  }, 120_000);

  it('tells a failure only once its result is on disk', async () => {
    const { told, again, result } = await killedAtTheEnd('failed', { maxRoundRetries: 0, roundDeadlineSeconds: 5, heartbeatTimeoutSeconds: 4 }, async (a, b) => {
      // Only a reports in round 1, and the round needs both: the job fails at the deadline.
      await Promise.all(
        [a, b].map(async (client) => {
          for (;;) {
            const task = await nextTask(client);
            if (task.kind === 'INITIALIZE') await submit(client, [{ header: { kind: 'INITIALIZE', round: 0, attempt: task.attempt, model: headerOf(SMALL) }, body: 'header' }, ...model(0, SMALL)]);
            if (task.kind === 'TRAIN') {
              if (client === a) await submit(client, [{ header: { kind: 'TRAIN', round: 1, attempt: task.attempt, numSamples: 5, model: headerOf(SMALL) }, body: 'header' }, ...model(1, SMALL)]);
              return;
            }
          }
        }),
      );
    });
    expect(told).toMatchObject({ succeeded: false });
    expect(again.map((t) => [t.kind, t.succeeded, t.message])).toEqual([
      ['DONE', false, told.message],
      ['DONE', false, told.message],
    ]);
    expect(result).toMatchObject({ status: 'Failed', reason: told.message, model: null });
  }, 120_000);
});
