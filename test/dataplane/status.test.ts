/**
 * GET /status: what the operator mirrors into a FederatedJob's status, from a real aggregator
 * that lingers after its job ended.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { UpdateMessage } from '../../operator/federation/proto.js';
import { specOf, type Model } from '../../operator/federation/model.js';
import { tensorChunks, toWireHeader } from '../../operator/federation/tensor-stream.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import type { AggregatorStatus } from '../../operator/aggregator/status.js';
import { TestPki, memoryLogger, rawClient, submit, taskOf, tempDir, testJob } from './fixtures.js';

const model = (value: number): Model => [{ name: 'w', shape: [3], data: new Float32Array(3).fill(value) }];

function update(header: UpdateHeader, m: Model): UpdateMessage[] {
  return [
    { header: { ...header, model: toWireHeader(specOf(m)) }, body: 'header' },
    ...[...tensorChunks(m.map((t) => t.data))].map((chunk): UpdateMessage => ({ chunk, body: 'chunk' })),
  ];
}

describe('aggregator /status', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let aggregator: RunningAggregator;

  afterAll(async () => {
    await aggregator?.close();
    await tmp?.remove();
  });

  it('reports the phase, the rounds and each site, then the final model with its checksum', async () => {
    tmp = await tempDir('status');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const stateDir = path.join(tmp.dir, 'state');
    const settings = testJob('heart', { sites: { names: ['a'] }, rounds: 1, minSites: 1 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', metricsListen: '127.0.0.1:0', linger: true, tlsDir: await pki.aggregator(), stateDir, log: memoryLogger().log });
    const status = async () => (await (await fetch(`http://${aggregator.ready.metricsAddress}/status`)).json()) as AggregatorStatus;
    expect(await status()).toMatchObject({ phase: 'Initializing', round: 0, rounds: 1 });

    const a = await rawClient(aggregator.ready.address, await pki.client('a'));
    const init = await taskOf(a, 'INITIALIZE');
    expect(await submit(a, update({ kind: 'INITIALIZE', round: 0, attempt: init.attempt }, model(0)))).toMatchObject({ ok: true });
    const train = await taskOf(a, 'TRAIN');
    expect(await status()).toMatchObject({ phase: 'Training', round: 0 });
    const metrics = { numSamples: 10, loss: 0.5, accuracy: 0.75, extra: {} };
    const header: UpdateHeader = { kind: 'TRAIN', round: 1, attempt: train.attempt, numSamples: 10, train: metrics, eval: metrics };
    expect(await submit(a, update(header, model(2)))).toMatchObject({ ok: true });
    const evaluate = await taskOf(a, 'EVALUATE');
    const final = { numSamples: 10, loss: 0.25, accuracy: 0.9, extra: {} };
    expect(await submit(a, [{ header: { kind: 'EVALUATE', round: evaluate.round, attempt: evaluate.attempt, numSamples: 10, eval: final }, body: 'header' }])).toMatchObject({ ok: true });
    expect(await taskOf(a, 'DONE')).toMatchObject({ succeeded: true });
    expect((await aggregator.outcome).succeeded).toBe(true);
    a.close();

    // The job is over, the aggregator lingers: its final word stays readable.
    const ended = await status();
    const bytes = await readFile(path.join(stateDir, 'model.safetensors'));
    expect(ended).toMatchObject({ namespace: 'hospitals', job: 'heart', phase: 'Succeeded', round: 1, rounds: 1, participants: 1, accuracy: 0.9, loss: 0.25 });
    expect(ended.sites.a).toEqual({ lastRound: 1, samples: 10, accuracy: 0.9 });
    expect(ended.model).toEqual({ path: 'model.safetensors', sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length });
  });
});
