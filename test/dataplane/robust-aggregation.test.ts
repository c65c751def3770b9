/**
 * A robust round over real mTLS gRPC: three sites' updates are spilled as they stream in and their
 * coordinate-wise median is the basis of FedAdam's step. A site that spoils its own update first (a
 * NaN after three chunks, a stream cut short, a value beyond the range) leaves no spill behind and the
 * very same model bytes as a run where it only sent its honest update, whatever the arrival order.
 */
import path from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import type { Model } from '../../operator/federation/model.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import { rng } from '../../operator/process/random.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { TestPki, memoryLogger, nextTask, rawClient, submit, taskOf, tempDir, testJob } from './fixtures.js';

const SITES = ['a', 'b', 'c'];
/** Three full 1 MiB chunks and a short one. */
const W = 3 * 262_144 + 10;
const CHUNK = 1 << 20;
const FED_OPT = { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 };

function seeded(seed: number, length: number, scale: number, around?: Float32Array): Float32Array {
  const random = rng(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (around ? around[i]! : 0) + (2 * random() - 1) * scale;
  return out;
}

const initial: Model = [{ name: 'w', shape: [W], data: seeded(1, W, 1) }];
const trained = (site: string): Float32Array => seeded(10 + SITES.indexOf(site), W, 0.05, initial[0]!.data);

function update(header: UpdateHeader, w: Float32Array): UpdateMessage[] {
  const bytes = Buffer.from(w.buffer, w.byteOffset, w.byteLength);
  const out: UpdateMessage[] = [{ header: { ...header, model: { tensors: [{ name: 'w', dtype: 'F32', shape: [W] }], totalBytes: bytes.length } }, body: 'header' }];
  for (let offset = 0; offset < bytes.length; offset += CHUNK) out.push({ chunk: { tensor: 0, offset, data: bytes.subarray(offset, Math.min(offset + CHUNK, bytes.length)) }, body: 'chunk' });
  return out;
}

const train = (task: Task__Output): UpdateHeader => ({ kind: 'TRAIN', round: task.round, attempt: task.attempt, numSamples: 100 });

const ATTACKS: { name: string; messages: (task: Task__Output) => UpdateMessage[] }[] = [
  {
    name: 'a NaN in the last chunk',
    messages: (task) => {
      const w = new Float32Array(trained('c'));
      w[W - 1] = NaN;
      return update(train(task), w);
    },
  },
  { name: 'cut short after two chunks', messages: (task) => update(train(task), trained('c').map((x) => x + 50)).slice(0, 3) },
  {
    name: 'a value beyond the range',
    messages: (task) => {
      const w = new Float32Array(trained('c'));
      w[W - 2] = 1e30;
      return update(train(task), w);
    },
  },
];

describe('a robust round over the wire', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  const tls = new Map<string, string>();

  beforeAll(async () => {
    tmp = await tempDir('robust');
    pki = await TestPki.create(tmp.dir, 'heart');
    for (const site of SITES) tls.set(site, await pki.client(site));
  });
  afterAll(() => tmp.remove());

  /** One round of FedAdam over the median: each site's honest update in `order`, c first sending what `before` gives it. */
  async function run(name: string, order: string[], before: (task: Task__Output) => UpdateMessage[][] = () => []) {
    const stateDir = path.join(tmp.dir, name);
    const settings = testJob(
      'heart',
      { sites: { names: SITES }, rounds: 1, minSites: 3, strategy: { name: 'FedAdam', fedOpt: FED_OPT, robust: { rule: 'Median' } } },
      { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 },
    );
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log: memoryLogger().log });
    const clients = new Map<string, FederationClient>();
    for (const site of SITES) clients.set(site, await rawClient(aggregator.ready.address, tls.get(site)!));
    const site = (s: string) => clients.get(s)!;
    const refusals: number[] = [];
    const spillsAfterRefusals: string[][] = [];
    try {
      const tasks = new Map<string, Task__Output>();
      await Promise.all(
        SITES.map(async (s) => {
          for (;;) {
            const task = await nextTask(site(s));
            if (task.kind === 'INITIALIZE') {
              const sent = await submit(site(s), update({ kind: 'INITIALIZE', round: 0, attempt: task.attempt }, initial[0]!.data));
              if (!sent.ok && sent.code !== status.FAILED_PRECONDITION) throw new Error(`initial model refused: ${sent.details}`);
            } else if (task.kind === 'TRAIN') {
              tasks.set(s, task);
              return;
            } else if (task.kind !== 'WAIT') throw new Error(`unexpected ${task.kind}`);
          }
        }),
      );
      for (const s of order) {
        if (s === 'c') {
          for (const messages of before(tasks.get(s)!)) {
            const outcome = await submit(site(s), messages);
            refusals.push(outcome.ok ? status.OK : outcome.code);
            spillsAfterRefusals.push(await readdir(path.join(stateDir, 'journal')));
          }
        }
        const outcome = await submit(site(s), update(train(tasks.get(s)!), trained(s)));
        if (!outcome.ok) throw new Error(`the honest update of ${s} was refused: ${outcome.details}`);
      }
      for (const s of SITES) {
        const task = await taskOf(site(s), 'EVALUATE');
        const header = { kind: 'EVALUATE', round: task.round, attempt: task.attempt, eval: { numSamples: 10, loss: 0.5, accuracy: 0.75, extra: {} } } as const;
        expect(await submit(site(s), [{ header, body: 'header' }])).toMatchObject({ ok: true });
      }
      for (const s of SITES) await taskOf(site(s), 'DONE');
      expect((await aggregator.outcome).succeeded).toBe(true);
      const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
      const { model } = await readSafetensors(path.join(stateDir, 'model.safetensors'));
      const w = model[0]!.data;
      return { result, w, bytes: Buffer.from(w.buffer, w.byteOffset, w.byteLength), refusals, spillsAfterRefusals, journal: await readdir(path.join(stateDir, 'journal')) };
    } finally {
      for (const c of clients.values()) c.close();
      await aggregator.close();
    }
  }

  it('steps FedAdam on the coordinate-wise median, the same bytes whatever the order', async () => {
    const forward = await run('forward', ['a', 'b', 'c']);
    const backward = await run('backward', ['c', 'b', 'a']);
    expect(forward.bytes.equals(backward.bytes)).toBe(true);
    // The spills are gone once the round closed.
    expect(forward.journal).toEqual([]);
    // From m = v = 0: m = (1 − β1)·Δ, v = (1 − β2)·Δ², w ← w + η·m / (√v + τ), Δ the median delta.
    const { serverLearningRate: eta, beta1, beta2, tau } = FED_OPT;
    let furthest = 0;
    for (const i of [0, 1, 262_143, 262_144, W - 1]) {
      const deltas = SITES.map((s) => trained(s)[i]! - initial[0]!.data[i]!).sort((x, y) => x - y);
      const median = deltas[1]!;
      const expected = initial[0]!.data[i]! + (eta * (1 - beta1) * median) / (Math.sqrt((1 - beta2) * median * median) + tau);
      furthest = Math.max(furthest, Math.abs(forward.w[i]! - expected));
    }
    expect(furthest).toBeLessThan(1e-6);
  }, 120_000);

  it('leaves nothing of a refused update: no spill, the same model bytes', async () => {
    const honest = await run('honest', ['a', 'c', 'b']);
    const attacked = await run('attacked', ['a', 'c', 'b'], (task) => ATTACKS.map((a) => a.messages(task)));
    expect(attacked.refusals).toEqual(ATTACKS.map(() => status.INVALID_ARGUMENT));
    // Only a's accepted update is spilled while c's spoiled ones are refused.
    expect(attacked.spillsAfterRefusals.map((files) => files.length)).toEqual(ATTACKS.map(() => 1));
    expect(attacked.result.status).toBe('Succeeded');
    expect(attacked.bytes.equals(honest.bytes)).toBe(true);
  }, 120_000);
});
