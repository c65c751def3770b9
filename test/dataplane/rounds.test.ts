/**
 * Quorum, deadline, heartbeats, retries and failure with a real aggregator on a short clock.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import { specOf, type Model } from '../../operator/federation/model.js';
import { receiveModel, tensorChunks, toWireHeader } from '../../operator/federation/tensor-stream.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { TestPki, memoryLogger, nextTask, rawClient, submit, taskOf, tempDir, testJob, type Outcome } from './fixtures.js';

const SITES = ['a', 'b', 'c'];
const model = (value: number): Model => [{ name: 'w', shape: [4], data: new Float32Array(4).fill(value) }];

function update(header: UpdateHeader, m: Model): UpdateMessage[] {
  return [
    { header: { ...header, model: toWireHeader(specOf(m)) }, body: 'header' },
    ...[...tensorChunks(m.map((t) => t.data))].map((chunk): UpdateMessage => ({ chunk, body: 'chunk' })),
  ];
}

const codeOf = (outcome: Outcome) => (outcome.ok ? status.OK : outcome.code);

describe('rounds on a short clock', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let aggregator: RunningAggregator;
  const clients = new Map<string, FederationClient>();
  const site = (name: string) => clients.get(name)!;

  beforeAll(async () => {
    tmp = await tempDir('rounds');
    pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 2, minSites: 2, maxRoundRetries: 1 }, { deadlineMs: 1_500, heartbeatTimeoutMs: 800 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log: memoryLogger().log });
    for (const name of SITES) clients.set(name, await rawClient(aggregator.ready.address, await pki.client(name)));
    const init = await taskOf(site('a'), 'INITIALIZE');
    expect(await submit(site('a'), update({ kind: 'INITIALIZE', round: 0, attempt: init.attempt }, model(0)))).toMatchObject({ ok: true });
  });

  afterAll(async () => {
    for (const client of clients.values()) client.close();
    await aggregator.close();
    await tmp.remove();
  });

  it('closes a round at its deadline with the quorum, keeping a heartbeating site in it until then', async () => {
    const task = await taskOf(site('a'), 'TRAIN');
    const started = Date.now();
    expect(await receiveModel(site('b').fetchModel({ round: 1 }))).toEqual(model(0));
    await expect(receiveModel(site('b').fetchModel({ round: 2 }))).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    const train = (numSamples: number): UpdateHeader => ({ kind: 'TRAIN', round: 1, attempt: task.attempt, numSamples });
    expect(codeOf(await submit(site('a'), update(train(1), model(1))))).toBe(status.OK);
    expect(codeOf(await submit(site('b'), update(train(1), model(3))))).toBe(status.OK);
    // c trains slowly: its heartbeats keep it in the round, so the round waits for the deadline.
    const open: boolean[] = [];
    while (Date.now() - started < 2_000) {
      open.push(await new Promise<boolean>((resolve, reject) => site('c').heartbeat({ round: 1 }, (err, res) => (err ? reject(err) : resolve(res!.roundOpen)))));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(open[0]).toBe(true);
    expect(open.at(-1)).toBe(false);
    expect(codeOf(await submit(site('c'), update(train(1), model(100))))).toBe(status.FAILED_PRECONDITION);
  });

  it('drops silent sites, retries the round below quorum, then fails the job saying why', async () => {
    // Round 2: only a ever reports; b and c stay silent (no calls at all).
    const first = await taskOf(site('a'), 'TRAIN');
    expect(first).toMatchObject({ round: 2, attempt: 0 });
    expect(codeOf(await submit(site('a'), update({ kind: 'TRAIN', round: 2, attempt: 0, numSamples: 1 }, model(1))))).toBe(status.OK);
    const retry = await taskOf(site('a'), 'TRAIN');
    expect(retry).toMatchObject({ round: 2, attempt: 1 });
    expect(codeOf(await submit(site('a'), update({ kind: 'TRAIN', round: 2, attempt: 1, numSamples: 1 }, model(1))))).toBe(status.OK);

    const done = await taskOf(site('a'), 'DONE');
    const reason = 'round 2 missed its quorum: 1 of 2 required sites reported within 1.5s (asked: a, b, c; silent for over 0.8s: b, c), 1 retry exhausted';
    expect(done).toMatchObject({ succeeded: false, message: reason });
    expect(await nextTask(site('b'))).toMatchObject({ kind: 'DONE', succeeded: false });
    expect(await aggregator.outcome).toEqual({ succeeded: false, message: reason });

    const result = JSON.parse(await readFile(path.join(tmp.dir, 'state', 'result.json'), 'utf8')) as JobResult;
    expect(result).toMatchObject({ status: 'Failed', reason, model: null });
    // Round 1 is in the history once, closed on a and b: (1 + 3) / 2 from 0.
    expect(result.rounds.map((r) => [r.round, r.participants])).toEqual([[1, ['a', 'b']]]);
  });
});

describe('an aggregator with aggregator.maxUpdateBytes', () => {
  it('refuses a model larger than that, whoever sends it', async () => {
    const tmp = await tempDir('max-bytes');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: ['a'] }, rounds: 1, aggregator: { maxUpdateBytes: 8 } });
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log: memoryLogger().log });
    const a = await rawClient(aggregator.ready.address, await pki.client('a'));
    try {
      await taskOf(a, 'INITIALIZE');
      const outcome = await submit(a, update({ kind: 'INITIALIZE', round: 0, attempt: 0 }, model(0)));
      expect(outcome).toMatchObject({ ok: false, code: status.RESOURCE_EXHAUSTED, details: 'the initial model holds 16 bytes, more than the 8 bytes allowed' });
    } finally {
      a.close();
      await aggregator.close();
      await tmp.remove();
    }
  });
});
