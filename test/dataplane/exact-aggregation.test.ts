/**
 * What a refused update leaves behind: nothing. A listed site streams hostile chunks (huge but
 * finite values, values that would drown the honest ones in float32 rounding) and then spoils its
 * own update (a NaN, a stream cut short); after the refusal it sends an honest update. The job's
 * final model must be the very same bytes as a run where that site only ever sent the honest update,
 * and the same bytes whatever order the honest updates arrive in.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import type { Model } from '../../operator/federation/model.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import { rng } from '../../operator/process/random.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { TestPki, memoryLogger, nextTask, rawClient, submit, taskOf, tempDir, testJob, type Outcome } from './fixtures.js';

const SITES = ['a', 'b', 'c'];
/** Three full 1 MiB chunks and a short one, then a small second tensor. */
const W = 3 * 262_144 + 10;
const CHUNK = 1 << 20;

function seeded(seed: number, length: number, scale: number, around?: Float32Array): Float32Array {
  const random = rng(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (around ? around[i]! : 0) + (2 * random() - 1) * scale;
  return out;
}

const initial: Model = [
  { name: 'w', shape: [W], data: seeded(1, W, 1) },
  { name: 'b', shape: [5], data: seeded(2, 5, 1) },
];
/** An honest site's trained model: the global model moved a little, differently at each site. */
const trained = (site: string): Float32Array[] => initial.map((t, k) => seeded(10 + SITES.indexOf(site) * 2 + k, t.data.length, 0.05, t.data));
const SAMPLES: Record<string, number> = { a: 120, b: 37, c: 301 };

/** The header of a model whose tensors are w and b, as the arrays hold them. */
const spec = (arrays: Float32Array[]) => ({
  tensors: arrays.map((a, k) => ({ name: k === 0 ? 'w' : 'b', dtype: 'F32' as const, shape: [a.length] })),
  totalBytes: arrays.reduce((n, a) => n + a.byteLength, 0),
});

/** The chunks of arrays, cut here by hand: tensor by tensor, 1 MiB at most. */
function chunks(arrays: Float32Array[]): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  arrays.forEach((a, tensor) => {
    const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (let offset = 0; offset < bytes.length; offset += CHUNK) {
      out.push({ chunk: { tensor, offset, data: bytes.subarray(offset, Math.min(offset + CHUNK, bytes.length)) }, body: 'chunk' });
    }
  });
  return out;
}

function update(header: UpdateHeader, arrays: Float32Array[]): UpdateMessage[] {
  return [{ header: { ...header, model: spec(arrays) }, body: 'header' }, ...chunks(arrays)];
}

const train = (site: string, task: Task__Output, numSamples = SAMPLES[site]!): UpdateHeader => ({ kind: 'TRAIN', round: task.round, attempt: task.attempt, numSamples });

/** The honest model with tensor w replaced from element `from` on by `value` (relative to the global model when `relative`). */
function poisoned(from: number, value: number, relative: boolean): Float32Array[] {
  const [w, b] = trained('c');
  const out = new Float32Array(w!);
  for (let i = from; i < W; i++) out[i] = relative ? initial[0]!.data[i]! + value : value;
  return [out, b!];
}

/** What a hostile site sends before its honest update, and how each must be answered. */
const ATTACKS: { name: string; messages: (task: Task__Output) => UpdateMessage[]; code: status }[] = [
  {
    // Finite values near float32's largest, then a NaN: folded as they come, they overflow the sum.
    name: 'huge values, then a NaN',
    messages: (task) => {
      const [w, b] = poisoned(0, 3e38, false);
      w![W - 1] = NaN;
      return update(train('c', task), [w!, b!]);
    },
    code: status.INVALID_ARGUMENT,
  },
  {
    name: 'the global model + 1e12, cut short',
    messages: (task) => update(train('c', task), poisoned(0, 1e12, true)).slice(0, 3),
    code: status.INVALID_ARGUMENT,
  },
  {
    // Within any sane range for one site, yet enough to swallow the others' digits in float32.
    name: 'the global model + 3e5, cut short',
    messages: (task) => update(train('c', task, 1), poisoned(0, 3e5, true)).slice(0, 4),
    code: status.INVALID_ARGUMENT,
  },
  {
    name: 'the global model − 1e4 in three chunks, then a NaN',
    messages: (task) => {
      const [w, b] = poisoned(0, -1e4, true);
      w![3 * 262_144 + 2] = NaN;
      return update(train('c', task), [w!, b!]);
    },
    code: status.INVALID_ARGUMENT,
  },
];

describe('refused updates leave the aggregate exactly as it was', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  const tls = new Map<string, string>();

  beforeAll(async () => {
    tmp = await tempDir('exact');
    pki = await TestPki.create(tmp.dir, 'heart');
    for (const site of SITES) tls.set(site, await pki.client(site));
  });
  afterAll(() => tmp.remove());

  /**
   * One job of one round: every site's honest update, in `order`, each site first sending what
   * `before` gives it. Returns the final model's tensors as bytes and the outcomes of the hostile streams.
   */
  async function run(name: string, order: string[], before: (site: string, task: Task__Output) => UpdateMessage[][] = () => []) {
    const stateDir = path.join(tmp.dir, name);
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 1, minSites: 3 }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log: memoryLogger().log });
    const clients = new Map<string, FederationClient>();
    for (const site of SITES) clients.set(site, await rawClient(aggregator.ready.address, tls.get(site)!));
    const site = (s: string) => clients.get(s)!;
    const refusals: { code: number; details: string }[] = [];
    try {
      // Whoever is asked for the initial model sends the same one.
      const tasks = new Map<string, Task__Output>();
      await Promise.all(
        SITES.map(async (s) => {
          for (;;) {
            const task = await nextTask(site(s));
            if (task.kind === 'INITIALIZE') {
              const sent = await submit(site(s), update({ kind: 'INITIALIZE', round: 0, attempt: task.attempt }, initial.map((t) => t.data)));
              if (!sent.ok && sent.code !== status.FAILED_PRECONDITION) throw new Error(`initial model refused: ${sent.details}`);
            } else if (task.kind === 'TRAIN') {
              tasks.set(s, task);
              return;
            } else if (task.kind !== 'WAIT') throw new Error(`unexpected ${task.kind}`);
          }
        }),
      );
      for (const s of order) {
        for (const messages of before(s, tasks.get(s)!)) {
          const outcome: Outcome = await submit(site(s), messages);
          refusals.push(outcome.ok ? { code: status.OK, details: 'accepted' } : { code: outcome.code, details: outcome.details });
        }
        const outcome = await submit(site(s), update(train(s, tasks.get(s)!), trained(s)));
        if (!outcome.ok) throw new Error(`the honest update of ${s} was refused: ${outcome.details}`);
      }
      for (const s of SITES) {
        // A job that failed says so with DONE instead.
        const task = await taskOf(site(s), 'EVALUATE').catch(() => null);
        if (!task) break;
        const header = { kind: 'EVALUATE', round: task.round, attempt: task.attempt, eval: { numSamples: 10, loss: 0.5, accuracy: 0.75, extra: {} } } as const;
        expect(await submit(site(s), [{ header, body: 'header' }])).toMatchObject({ ok: true });
      }
      for (const s of SITES) await taskOf(site(s), 'DONE');
      const outcome = await aggregator.outcome;
      const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
      if (!outcome.succeeded) return { outcome, result, tensors: null, refusals };
      const { model } = await readSafetensors(path.join(stateDir, 'model.safetensors'));
      return { outcome, result, tensors: model.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), refusals };
    } finally {
      for (const c of clients.values()) c.close();
      await aggregator.close();
    }
  }

  it('makes the same bytes whatever order the updates arrive in', async () => {
    const forward = await run('forward', ['a', 'b', 'c']);
    const backward = await run('backward', ['c', 'b', 'a']);
    expect(forward.outcome.succeeded).toBe(true);
    expect(backward.outcome.succeeded).toBe(true);
    expect(forward.tensors!.map((t, k) => t.equals(backward.tensors![k]!))).toEqual([true, true]);
    // And it is the sample-weighted mean of the updates, to float32 rounding.
    const [w] = forward.tensors!;
    const model = new Float32Array(w!.buffer, w!.byteOffset, W);
    const n = SITES.reduce((s, site) => s + SAMPLES[site]!, 0);
    const updates = SITES.map((s) => trained(s)[0]!);
    let furthest = 0;
    for (const i of [0, 1, 262_143, 262_144, W - 1]) {
      const mean = SITES.reduce((s, site, k) => s + SAMPLES[site]! * (updates[k]![i]! - initial[0]!.data[i]!), 0) / n + initial[0]!.data[i]!;
      furthest = Math.max(furthest, Math.abs(model[i]! - mean));
    }
    expect(furthest).toBeLessThan(1e-6);
  }, 120_000);

  it('takes back every refused update bit for bit', async () => {
    const honest = await run('honest', ['a', 'b', 'c']);
    expect(honest.outcome.succeeded).toBe(true);
    for (const attack of ATTACKS) {
      // The attacker goes between the two honest sites, so its chunks land on a sum that holds one.
      const attacked = await run(`attacked-${ATTACKS.indexOf(attack)}`, ['a', 'c', 'b'], (site, task) => (site === 'c' ? [attack.messages(task)] : []));
      expect({ attack: attack.name, codes: attacked.refusals.map((r) => r.code), succeeded: attacked.outcome.succeeded, reason: attacked.result.reason }).toEqual({
        attack: attack.name,
        codes: [attack.code],
        succeeded: true,
        reason: 'trained 1 rounds and evaluated the final model',
      });
      expect({ attack: attack.name, same: attacked.tensors!.map((t, k) => t.equals(honest.tensors![k]!)) }).toEqual({ attack: attack.name, same: [true, true] });
    }
  }, 300_000);
});
