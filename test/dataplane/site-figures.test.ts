/**
 * What a site says about itself, bounded by what the job spec and the statistics phase tell the
 * aggregator: the statistics vector's length follows from the spec (never from the first site to
 * send one), and a site's weight and figures cannot exceed its records.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { Metrics } from '../../operator/federation/generated/flotilla/federation/v1/Metrics.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { TestPki, memoryLogger, nextTask, rawClient, submit, taskOf, tempDir, testJob, type Outcome } from './fixtures.js';

const SITES = ['a', 'b', 'c'];
/** Two numeric features: statistics are [count, Σx0, Σx1, Σx0², Σx1²]; the model is nn.Linear(2, 1). */
const BUILTIN = {
  builtin: {
    model: 'LogisticRegression',
    dataset: { label: { column: 2 }, features: [{ name: 'x0', column: 0 }, { name: 'x1', column: 1 }], standardize: 'Federated' },
  },
};
const RECORDS: Record<string, number> = { a: 150, b: 100, c: 50 };
/** Test rows of a site with 150 training records and the default testFraction 0.34: 228 records, 78 held out. */
const A_TEST_ROWS = 78;

const statisticsOf = (count: number) => [count, count * 0.5, count * -1, count * 2, count * 3];
const code = (o: Outcome) => (o.ok ? status.OK : o.code);

function vector(values: number[]): UpdateMessage[] {
  const data = Buffer.from(new Float64Array(values).buffer);
  return [{ chunk: { tensor: 0, offset: 0, data }, body: 'chunk' }];
}

function statistics(task: Task__Output, values: number[]): UpdateMessage[] {
  const model = { tensors: [{ name: 'statistics', dtype: 'F64' as const, shape: [values.length] }], totalBytes: values.length * 8 };
  return [{ header: { kind: 'STATISTICS', round: task.round, attempt: task.attempt, model }, body: 'header' }, ...vector(values)];
}

const figures = (numSamples: number, accuracy = 0.75, loss = 0.5): Metrics => ({ numSamples, loss, accuracy, extra: {} });

/** A TRAIN update of nn.Linear(2, 1): weight [1, 2], bias [1]. */
function trainUpdate(task: Task__Output, header: Partial<UpdateHeader>): UpdateMessage[] {
  const model = {
    tensors: [
      { name: 'weight', dtype: 'F32' as const, shape: [1, 2] },
      { name: 'bias', dtype: 'F32' as const, shape: [1] },
    ],
    totalBytes: 12,
  };
  const full: UpdateHeader = { kind: 'TRAIN', round: task.round, attempt: task.attempt, model, ...header };
  return [
    { header: full, body: 'header' },
    { chunk: { tensor: 0, offset: 0, data: Buffer.from(new Float32Array([0.1, -0.2]).buffer) }, body: 'chunk' },
    { chunk: { tensor: 1, offset: 0, data: Buffer.from(new Float32Array([0.05]).buffer) }, body: 'chunk' },
  ];
}

/** Asks until the task is `kind`; a site asked for the initial model sends nn.Linear(2, 1) at zero. */
async function reach(client: FederationClient, kind: string): Promise<Task__Output> {
  for (;;) {
    const task = await nextTask(client);
    if (task.kind === kind) return task;
    if (task.kind === 'INITIALIZE') {
      const model = { tensors: [{ name: 'weight', dtype: 'F32' as const, shape: [1, 2] }, { name: 'bias', dtype: 'F32' as const, shape: [1] }], totalBytes: 12 };
      await submit(client, [
        { header: { kind: 'INITIALIZE', round: 0, attempt: task.attempt, model }, body: 'header' },
        { chunk: { tensor: 0, offset: 0, data: Buffer.alloc(8) }, body: 'chunk' },
        { chunk: { tensor: 1, offset: 0, data: Buffer.alloc(4) }, body: 'chunk' },
      ]);
    } else if (task.kind !== 'WAIT') throw new Error(`expected ${kind}, got ${task.kind}`);
  }
}

describe('a job with federated statistics', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let aggregator: RunningAggregator;
  const clients = new Map<string, FederationClient>();
  const site = (name: string) => clients.get(name)!;

  beforeAll(async () => {
    tmp = await tempDir('site-figures');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 1, minSites: 3, trainer: BUILTIN }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log: memoryLogger().log });
    for (const name of SITES) clients.set(name, await rawClient(aggregator.ready.address, await pki.client(name)));
  });

  afterAll(async () => {
    for (const c of clients.values()) c.close();
    await aggregator.close();
    await tmp.remove();
  });

  it('expects the statistics vector the spec implies, whoever sends first, and only plausible ones', async () => {
    const tasks = Object.fromEntries(await Promise.all(SITES.map(async (s) => [s, await reach(site(s), 'STATISTICS')] as const)));
    const a = (values: number[]) => submit(site('a'), statistics(tasks.a!, values)).then(code);
    expect({
      oneValue: await a([1]),
      sixValues: await a([...statisticsOf(150), 1]),
      negativeCount: await a(statisticsOf(-150)),
      fractionalCount: await a(statisticsOf(150.5)),
      hugeCount: await a(statisticsOf(2 ** 53 - 1)),
      // Σx0² = 2 with Σx0 = 100 over 2 records: a negative variance, which no data has.
      impossibleVariance: await a([2, 100, 0, 2, 0]),
    }).toEqual({
      oneValue: status.INVALID_ARGUMENT,
      sixValues: status.INVALID_ARGUMENT,
      negativeCount: status.INVALID_ARGUMENT,
      fractionalCount: status.INVALID_ARGUMENT,
      hugeCount: status.INVALID_ARGUMENT,
      impossibleVariance: status.INVALID_ARGUMENT,
    });
    for (const s of ['b', 'c']) expect(await submit(site(s), statistics(tasks[s]!, statisticsOf(RECORDS[s]!))).then(code)).toBe(status.OK);
    expect(await a(statisticsOf(RECORDS.a!))).toBe(status.OK);
    const train = await reach(site('a'), 'TRAIN');
    expect(train.statistics).toEqual(statisticsOf(300));
  });

  it("refuses a weight or figures beyond the site's records, and ends with the honest figures", async () => {
    const task = await reach(site('a'), 'TRAIN');
    const a = (header: Partial<UpdateHeader>) => submit(site('a'), trainUpdate(task, header)).then(code);
    const honest = { numSamples: 150, train: figures(150), eval: figures(A_TEST_ROWS) };
    expect({
      maxSafeWeight: await a({ ...honest, numSamples: 2 ** 53 - 1 }),
      oneRecordMore: await a({ ...honest, numSamples: 151 }),
      trainFiguresOverRecords: await a({ ...honest, train: figures(1e9) }),
      evalOverTestRows: await a({ ...honest, eval: figures(A_TEST_ROWS + 1) }),
      accuracyAboveOne: await a({ ...honest, eval: figures(A_TEST_ROWS, 1.5) }),
      negativeLoss: await a({ ...honest, train: figures(150, 0.5, -1) }),
    }).toEqual({
      maxSafeWeight: status.INVALID_ARGUMENT,
      oneRecordMore: status.INVALID_ARGUMENT,
      trainFiguresOverRecords: status.INVALID_ARGUMENT,
      evalOverTestRows: status.INVALID_ARGUMENT,
      accuracyAboveOne: status.INVALID_ARGUMENT,
      negativeLoss: status.INVALID_ARGUMENT,
    });
    expect(await a(honest)).toBe(status.OK);
    for (const s of ['b', 'c']) {
      const t = await reach(site(s), 'TRAIN');
      expect(await submit(site(s), trainUpdate(t, { numSamples: RECORDS[s]!, eval: figures(10) })).then(code)).toBe(status.OK);
    }

    const evaluate = (s: string, numSamples: number, accuracy: number) =>
      reach(site(s), 'EVALUATE').then((t) => submit(site(s), [{ header: { kind: 'EVALUATE', round: t.round, attempt: t.attempt, eval: figures(numSamples, accuracy) }, body: 'header' }]).then(code));
    expect(await evaluate('a', 2 ** 53 - 1, 1)).toBe(status.INVALID_ARGUMENT);
    expect(await evaluate('a', A_TEST_ROWS + 1, 1)).toBe(status.INVALID_ARGUMENT);
    expect(await evaluate('a', A_TEST_ROWS, 0.5)).toBe(status.OK);
    expect(await evaluate('b', 10, 1)).toBe(status.OK);
    expect(await evaluate('c', 10, 1)).toBe(status.OK);
    for (const s of SITES) await taskOf(site(s), 'DONE');
    expect((await aggregator.outcome).succeeded).toBe(true);
    const result = JSON.parse(await readFile(path.join(tmp.dir, 'state', 'result.json'), 'utf8')) as JobResult;
    expect(result.finalEvaluation?.eval).toEqual({ numSamples: A_TEST_ROWS + 20, loss: 0.5, accuracy: (A_TEST_ROWS * 0.5 + 20) / (A_TEST_ROWS + 20) });
    expect(result.rounds[0]!.sites.map((s) => [s.site, s.numSamples])).toEqual([
      ['a', 150],
      ['b', 100],
      ['c', 50],
    ]);
  });
});

describe('a job without federated statistics', () => {
  it('still refuses a weight beyond any site’s records (1e8)', async () => {
    const tmp = await tempDir('site-figures-plain');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: ['a', 'b'] }, rounds: 1, minSites: 2 });
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log: memoryLogger().log });
    const a = await rawClient(aggregator.ready.address, await pki.client('a'));
    const b = await rawClient(aggregator.ready.address, await pki.client('b'));
    try {
      const [task] = await Promise.all([reach(a, 'TRAIN'), reach(b, 'TRAIN')]);
      const send = (header: Partial<UpdateHeader>) => submit(a, trainUpdate(task, header)).then(code);
      expect({
        maxSafeWeight: await send({ numSamples: 2 ** 53 - 1 }),
        overLimit: await send({ numSamples: 1e8 + 1 }),
        evalOverLimit: await send({ numSamples: 10, eval: figures(1e8 + 1) }),
        atLimit: await send({ numSamples: 1e8 }),
      }).toEqual({ maxSafeWeight: status.INVALID_ARGUMENT, overLimit: status.INVALID_ARGUMENT, evalOverLimit: status.INVALID_ARGUMENT, atLimit: status.OK });
    } finally {
      a.close();
      b.close();
      await aggregator.close();
      await tmp.remove();
    }
  });
});
