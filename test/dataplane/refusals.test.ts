/**
 * Every refusal over a real mutual-TLS connection to a real aggregator: the caller gets the status
 * code, and the round still closes on the honest updates alone (the global model is their
 * sample-weighted average, to float rounding).
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import { specOf, type Model, type TensorSpec } from '../../operator/federation/model.js';
import { tensorChunks, toWireHeader, type Values } from '../../operator/federation/tensor-stream.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import { selectSites } from '../../operator/aggregator/selection.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { readTlsFiles } from '../../operator/pki/files.js';
import { untilExpired } from '../support/clock.js';
import { TestPki, codeOf, memoryLogger, plaintextClient, rawClient, submit, taskOf, tempDir, testJob, type Outcome } from './fixtures.js';

const SITES = ['a', 'b', 'c'];
/** A seed whose first round selects a and b, leaving c out. */
const SEED = [...Array(1000).keys()].find((s) => selectSites(SITES, 2, s, 1, 0).join() === 'a,b')!;
/** Just over 3 MiB: three full 1 MiB chunks, then a short one. */
const W = 3 * 262_144 + 10;

const filled = (value: number): Model => [
  { name: 'w', shape: [W], data: new Float32Array(W).fill(value) },
  { name: 'b', shape: [5], data: new Float32Array(5).fill(value) },
];

/** An update's messages: its header, then the chunks of `arrays` as announced by `specs`. */
function update(header: UpdateHeader, arrays: Values[], specs: TensorSpec[] = specOf(filled(0))): UpdateMessage[] {
  return [
    { header: { ...header, model: toWireHeader(specs) }, body: 'header' },
    ...[...tensorChunks(arrays)].map((chunk): UpdateMessage => ({ chunk, body: 'chunk' })),
  ];
}

const train = (numSamples: number): UpdateHeader => ({ kind: 'TRAIN', round: 1, attempt: 0, numSamples });
const refused = (outcome: Outcome) => (outcome.ok ? { code: status.OK } : { code: outcome.code });

describe('an aggregator refusing bad updates', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let aggregator: RunningAggregator;
  let pki: TestPki;
  const clients = new Map<string, FederationClient>();
  const { log, lines } = memoryLogger();

  beforeAll(async () => {
    tmp = await tempDir('refusals');
    pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 1, minSites: 2, sitesPerRound: 2, seed: SEED });
    aggregator = await startAggregator(settings, {
      listen: '127.0.0.1:0',
      tlsDir: await pki.aggregator(),
      stateDir: path.join(tmp.dir, 'state'),
      metricsListen: '127.0.0.1:0',
      log,
    });
    for (const site of SITES) clients.set(site, await rawClient(aggregator.ready.address, await pki.client(site)));
  });

  afterAll(async () => {
    for (const client of clients.values()) client.close();
    await aggregator.close();
    await tmp.remove();
  });

  const site = (name: string) => clients.get(name)!;

  it('refuses certificates that are not one of the job’s sites, before anything else', async () => {
    const join = (client: FederationClient) => codeOf((done) => client.join({ protocolVersion: 1 }, done));
    const address = aggregator.ready.address;
    const expired = await pki.client('a-expired', { identity: { role: 'client', namespace: 'hospitals', job: 'heart', site: 'a' }, validSeconds: 1 });
    const cases = {
      otherCa: await rawClient(address, await pki.client('a-other-ca', { identity: { role: 'client', namespace: 'hospitals', job: 'heart', site: 'a' }, otherCa: true })),
      otherJob: await rawClient(address, await pki.client('a-lungs', { identity: { role: 'client', namespace: 'hospitals', job: 'lungs', site: 'a' } })),
      otherNamespace: await rawClient(address, await pki.client('a-ns', { identity: { role: 'client', namespace: 'clinics', job: 'heart', site: 'a' } })),
      unlistedSite: await rawClient(address, await pki.client('z')),
      plaintext: plaintextClient(address),
    };
    await untilExpired((await readTlsFiles(expired)).certPem);
    const results = Object.fromEntries(await Promise.all(Object.entries(cases).map(async ([name, c]) => [name, (await join(c)).code] as const)));
    const expiredClient = await rawClient(address, expired);
    results.expired = (await join(expiredClient)).code;
    expiredClient.close();
    expect(results).toEqual({
      otherCa: status.UNAVAILABLE, // the TLS handshake fails: no call reaches a handler
      otherJob: status.PERMISSION_DENIED,
      otherNamespace: status.PERMISSION_DENIED,
      unlistedSite: status.PERMISSION_DENIED,
      plaintext: status.UNAVAILABLE,
      expired: status.UNAVAILABLE,
    });
    const denied = await join(cases.unlistedSite);
    expect(denied.details).toBe("site z is not one of job heart's sites (spec.sites.names)");
    for (const c of Object.values(cases)) c.close();
  });

  it('takes the initial model two sites (minSites) sent alike', async () => {
    const initial = filled(0);
    for (const name of ['a', 'b']) {
      const task = await taskOf(site(name), 'INITIALIZE');
      const outcome = await submit(site(name), update({ kind: 'INITIALIZE', round: 0, attempt: task.attempt }, initial.map((t) => t.data)));
      expect(outcome.ok).toBe(true);
    }
  });

  it('refuses each bad update with its status code, and still closes the round on the honest ones', async () => {
    const a = site('a');
    const task = await taskOf(a, 'TRAIN');
    expect(task).toMatchObject({ round: 1, attempt: 0 });
    const good = filled(1).map((t) => t.data);
    const wrong = (change: (specs: TensorSpec[]) => void): TensorSpec[] => {
      const specs = specOf(filled(0));
      change(specs);
      return specs;
    };
    const withValue = (index: number, value: number) => {
      const w = new Float32Array(W).fill(1);
      w[index] = value;
      return [w, new Float32Array(5).fill(1)];
    };
    const huge = await rawClient(aggregator.ready.address, await pki.client('a'), { unlimitedSend: true });
    const oversized: UpdateMessage[] = [update(train(1), [])[0]!, { chunk: { tensor: 0, offset: 0, data: Buffer.alloc(6 << 20) }, body: 'chunk' }];

    const oneHugeMessage = refused(await submit(huge, oversized));
    // grpc-js refuses that message itself and cancels the handler's stream a moment later; only
    // then is a's place free for its next update.
    while (!lines.some((l) => l.reason === 'cut_short')) await new Promise((r) => setTimeout(r, 10));
    const outcomes = {
      oneHugeMessage,
      notSelected: refused(await submit(site('c'), update(train(1), good))),
      wrongShape: refused(await submit(a, update(train(1), [new Float32Array(W + 1), good[1]!], wrong((s) => (s[0]!.shape = [W + 1]))))),
      wrongDtype: refused(await submit(a, update(train(1), [new Float64Array(W), new Float64Array(5)], wrong((s) => s.forEach((t) => (t.dtype = 'F64')))))),
      wrongNames: refused(await submit(a, update(train(1), good, wrong((s) => (s[1]!.name = 'bias'))))),
      noWeight: refused(await submit(a, update(train(0), good))),
      nanInTheLastChunk: refused(await submit(a, update(train(1), withValue(W - 2, NaN)))),
      infinityInChunkTwo: refused(await submit(a, update(train(1), withValue(300_000, -Infinity)))),
      bytesPastTheModel: refused(await submit(a, [...update(train(1), good), { chunk: { tensor: 1, offset: 20, data: Buffer.alloc(4) }, body: 'chunk' }])),
      cutShort: refused(await submit(a, update(train(1), good).slice(0, 3))),
      anotherRound: refused(await submit(a, update({ ...train(1), round: 2 }, good))),
      anotherAttempt: refused(await submit(a, update({ ...train(1), attempt: 1 }, good))),
    };
    expect(outcomes).toEqual({
      oneHugeMessage: { code: status.RESOURCE_EXHAUSTED },
      notSelected: { code: status.FAILED_PRECONDITION },
      wrongShape: { code: status.INVALID_ARGUMENT },
      wrongDtype: { code: status.INVALID_ARGUMENT },
      wrongNames: { code: status.INVALID_ARGUMENT },
      noWeight: { code: status.INVALID_ARGUMENT },
      nanInTheLastChunk: { code: status.INVALID_ARGUMENT },
      infinityInChunkTwo: { code: status.INVALID_ARGUMENT },
      bytesPastTheModel: { code: status.RESOURCE_EXHAUSTED },
      cutShort: { code: status.INVALID_ARGUMENT },
      anotherRound: { code: status.FAILED_PRECONDITION },
      anotherAttempt: { code: status.FAILED_PRECONDITION },
    });
    huge.close();

    // A poisoned update and an honest one arriving at the same time, chunks interleaved.
    const [poisoned, honest] = await Promise.all([submit(a, update(train(7), withValue(W - 1, NaN))), submit(site('b'), update(train(3), filled(3).map((t) => t.data)))]);
    expect([refused(poisoned), refused(honest)]).toEqual([{ code: status.INVALID_ARGUMENT }, { code: status.OK }]);
    const second = await submit(site('b'), update(train(3), good));
    expect(refused(second)).toEqual({ code: status.ALREADY_EXISTS });
    expect(await submit(a, update(train(1), good))).toMatchObject({ ok: true, response: { round: 1, bytesReceived: W * 4 + 20 } });

    const metrics = await (await fetch(`http://${aggregator.ready.metricsAddress}/metrics`)).text();
    // Summed over the sites (and '' for callers that are none of the job's).
    const refusals = (reason: string) =>
      [...metrics.matchAll(new RegExp(`^flotilla_updates_refused_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    // Each refusal also left a structured log line naming the site, the reason and the status.
    const logged = lines.filter((l) => l.level === 'warn' && l.method === 'SubmitUpdate' && l.site === 'a').map((l) => [l.reason, l.code]);
    // grpc-js refuses the oversized message itself; the handler then sees its stream cancelled.
    expect(logged.filter(([reason]) => reason === 'cut_short')).toEqual([['cut_short', 'CANCELLED']]);
    expect(logged.filter(([reason]) => reason !== 'cut_short')).toEqual([
      ['wrong_shape', 'INVALID_ARGUMENT'],
      ['wrong_shape', 'INVALID_ARGUMENT'],
      ['wrong_shape', 'INVALID_ARGUMENT'],
      ['invalid_header', 'INVALID_ARGUMENT'],
      ['not_finite', 'INVALID_ARGUMENT'],
      ['not_finite', 'INVALID_ARGUMENT'],
      ['too_large', 'RESOURCE_EXHAUSTED'],
      ['malformed_stream', 'INVALID_ARGUMENT'],
      ['stale_round', 'FAILED_PRECONDITION'],
      ['stale_round', 'FAILED_PRECONDITION'],
      ['not_finite', 'INVALID_ARGUMENT'],
    ]);
    expect(Object.fromEntries(['identity', 'not_selected', 'wrong_shape', 'invalid_header', 'not_finite', 'too_large', 'malformed_stream', 'stale_round', 'duplicate'].map((r) => [r, refusals(r)]))).toEqual({
      identity: 4,
      not_selected: 1,
      wrong_shape: 3,
      invalid_header: 1,
      not_finite: 3,
      too_large: 1,
      malformed_stream: 1,
      stale_round: 2,
      duplicate: 1,
    });
    // And by the site that sent them: the identity refusals had no site of the job to name.
    const bySite = (site: string, reason: string) =>
      Number(metrics.split('\n').find((l) => l.startsWith('flotilla_updates_refused_total{') && l.includes(`site="${site}"`) && l.includes(`reason="${reason}"`))?.split(' ')[1]);
    expect([bySite('a', 'wrong_shape'), bySite('a', 'not_finite'), bySite('b', 'duplicate'), bySite('b', 'wrong_shape'), bySite('', 'identity')]).toEqual([3, 3, 1, 0, 4]);
  });

  it('ends with the average of the honest updates only', async () => {
    for (const name of SITES) {
      const task = await taskOf(site(name), 'EVALUATE');
      const header = { kind: 'EVALUATE', round: task.round, attempt: task.attempt, eval: { numSamples: 10, loss: 0.5, accuracy: 0.75, extra: {} } } as const;
      expect(await submit(site(name), [{ header, body: 'header' }])).toMatchObject({ ok: true });
    }
    expect(await taskOf(site('c'), 'DONE')).toMatchObject({ succeeded: true });
    // Once the last site has been told, the aggregator stops serving: ask each of the others once.
    for (const name of ['a', 'b']) await taskOf(site(name), 'DONE');
    expect(await aggregator.outcome).toEqual({ succeeded: true, message: 'trained 1 rounds and evaluated the final model' });

    const state = path.join(tmp.dir, 'state');
    const { model } = await readSafetensors(path.join(state, 'model.safetensors'));
    // (1·1 + 3·3) / (1 + 3) = 2.5: nothing of the refused updates is left in it.
    const furthest = Math.max(...model.map((t) => t.data.reduce((m, v) => Math.max(m, Math.abs(v - 2.5)), 0)));
    expect(furthest).toBeLessThan(1e-5);
    const result = JSON.parse(await readFile(path.join(state, 'result.json'), 'utf8')) as JobResult;
    expect(result.rounds.map((r) => [r.round, r.participants])).toEqual([[1, ['a', 'b']]]);
    expect(result.finalEvaluation?.eval).toEqual({ numSamples: 30, loss: 0.5, accuracy: 0.75 });
  });
});
