/**
 * No single site decides the initial model. A built-in trainer's model follows from the spec and the
 * seed, so the aggregator makes it itself, the very bytes each site's trainer makes. A bring-your-own
 * trainer's model only the sites know: every site is asked, and a model is adopted once minSites
 * sites sent the same bytes, so a hostile site's architecture is never adopted and a stalling site
 * costs nothing.
 */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import { receiveModel } from '../../operator/federation/tensor-stream.js';
import type { Model } from '../../operator/federation/model.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import { BuiltinTrainer } from '../../operator/trainer/builtin-trainer.js';
import type { BuiltinTrainerSpec } from '../../operator/trainer/builtin-spec.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import { TestPki, memoryLogger, nextTask, rawClient, submit, tempDir, testJob, type Outcome } from './fixtures.js';

const SITES = ['a', 'b', 'c', 'd'];
const code = (o: Outcome) => (o.ok ? status.OK : o.code);

function initialize(task: Task__Output, tensors: { name: string; values: Float32Array; shape?: number[] }[], dtype: 'F32' | 'F64' = 'F32'): UpdateMessage[] {
  const model = { tensors: tensors.map((t) => ({ name: t.name, dtype, shape: t.shape ?? [t.values.length] })), totalBytes: tensors.reduce((n, t) => n + t.values.byteLength, 0) };
  return [
    { header: { kind: 'INITIALIZE', round: task.round, attempt: task.attempt, model }, body: 'header' },
    ...tensors.map((t, tensor): UpdateMessage => ({ chunk: { tensor, offset: 0, data: Buffer.from(t.values.buffer) }, body: 'chunk' })),
  ];
}

describe('the initial model', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let aggregator: RunningAggregator | undefined;
  const clients: FederationClient[] = [];

  beforeAll(async () => {
    tmp = await tempDir('initial-model');
    pki = await TestPki.create(tmp.dir, 'heart');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await aggregator?.close();
    aggregator = undefined;
  });
  afterAll(() => tmp.remove());

  async function start(name: string, spec: Record<string, unknown>): Promise<Map<string, FederationClient>> {
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 1, minSites: 2, ...spec }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, name), log: memoryLogger().log });
    const map = new Map<string, FederationClient>();
    for (const site of SITES) {
      const client = await rawClient(aggregator.ready.address, await pki.client(site));
      clients.push(client);
      map.set(site, client);
    }
    return map;
  }

  it("of a built-in trainer is made by the aggregator, the same bytes as every site's trainer makes", async () => {
    const builtin: BuiltinTrainerSpec = {
      model: 'MLP',
      hiddenUnits: [4],
      dataset: {
        header: false,
        missingValues: [],
        label: { column: 2, positiveAbove: 0 },
        features: [{ name: 'x0', column: 0 }, { name: 'x1', column: 1 }],
        testFraction: 0.34,
        stratify: false,
        standardize: 'None',
      },
    };
    const sites = await start('builtin', { seed: 7, trainer: { builtin } });
    const a = sites.get('a')!;
    const task = await nextTask(a);
    // No site is asked for it, and none may send one.
    expect(task).toMatchObject({ kind: 'TRAIN', round: 1 });
    expect(code(await submit(a, initialize({ ...task, round: 0 }, [{ name: '0.weight', values: new Float32Array(8) }])))).toBe(status.FAILED_PRECONDITION);
    const global = await receiveModel(a.fetchModel({ round: 1 }));

    // The trainer a site runs, on records of its own.
    const data = path.join(tmp.dir, 'site.csv');
    await writeFile(data, Array.from({ length: 20 }, (_, i) => `${i},${i % 3},${i % 2}`).join('\n') + '\n');
    const trainer = await BuiltinTrainer.open({ spec: builtin, dataPath: data, site: 'a', jobSeed: 7 });
    const made: Model = await trainer.initialize(7);
    expect(global.map((t) => [t.name, t.shape])).toEqual(made.map((t) => [t.name, t.shape]));
    expect(global.map((t) => Buffer.from(t.data.buffer).equals(Buffer.from(made[global.indexOf(t)]!.data.buffer)))).toEqual(made.map(() => true));
    expect(global[0]!.data.some((v) => v !== 0)).toBe(true);
  });

  it('of a bring-your-own trainer is the one minSites sites agree on, not a hostile first one, and a stalled site costs nothing', async () => {
    const sites = await start('command', {});
    const honest = [
      { name: 'layer.weight', values: new Float32Array([0.5, -0.25, 0.125, 1]), shape: [2, 2] },
      { name: 'layer.bias', values: new Float32Array([0, 0]) },
    ];
    const started = Date.now();
    const tasks = await Promise.all(SITES.map((s) => nextTask(sites.get(s)!)));
    // Every site is asked.
    expect(tasks.map((t) => t.kind)).toEqual(SITES.map(() => 'INITIALIZE'));
    const [a, b, , d] = SITES.map((s) => sites.get(s)!);
    // a sends another architecture first, and would like it adopted; c takes the task and stalls.
    expect(code(await submit(a!, initialize(tasks[0]!, [{ name: 'evil', values: new Float32Array(1000).fill(9) }])))).toBe(status.OK);
    expect(code(await submit(a!, initialize(tasks[0]!, honest)))).toBe(status.ALREADY_EXISTS);
    expect(code(await submit(b!, initialize(tasks[1]!, [{ name: 'w', values: new Float64Array(2) as unknown as Float32Array }], 'F64')))).toBe(status.INVALID_ARGUMENT);
    expect(code(await submit(b!, initialize(tasks[1]!, [])))).toBe(status.INVALID_ARGUMENT);
    expect(code(await submit(b!, initialize(tasks[1]!, honest)))).toBe(status.OK);
    expect(await nextTask(a!, 0)).toMatchObject({ kind: 'WAIT' }); // one model each: no agreement yet
    // A second site with the same bytes: adopted at once, without waiting for c or the deadline.
    expect(code(await submit(d!, initialize(tasks[3]!, honest)))).toBe(status.OK);
    let train: Task__Output;
    do train = await nextTask(a!);
    while (train.kind === 'WAIT');
    expect(train).toMatchObject({ kind: 'TRAIN', round: 1 });
    expect(Date.now() - started).toBeLessThan(20_000);
    const global = await receiveModel(a!.fetchModel({ round: 1 }));
    expect(global.map((t) => [t.name, t.shape, [...t.data]])).toEqual(honest.map((t) => [t.name, t.shape ?? [t.values.length], [...t.values]]));
  });

  it('fails the job saying so when no minSites sites agree', async () => {
    const settings = testJob('heart', { sites: { names: ['a', 'b'] }, rounds: 1, minSites: 2, maxRoundRetries: 0 }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'disagree'), log: memoryLogger().log });
    const [a, b] = await Promise.all(['a', 'b'].map((s) => pki.client(s).then((dir) => rawClient(aggregator!.ready.address, dir))));
    clients.push(a!, b!);
    const [ta, tb] = await Promise.all([nextTask(a!), nextTask(b!)]);
    expect(code(await submit(a!, initialize(ta!, [{ name: 'w', values: new Float32Array([1]) }])))).toBe(status.OK);
    expect(code(await submit(b!, initialize(tb!, [{ name: 'w', values: new Float32Array([2]) }])))).toBe(status.OK);
    let done: Task__Output;
    do done = await nextTask(a!);
    while (done.kind === 'WAIT');
    expect(done).toMatchObject({
      kind: 'DONE',
      succeeded: false,
      message: 'initialization missed its quorum: no initial model was sent alike by 2 sites (2 sites sent 2 different models), 0 retries exhausted',
    });
  });
});
