import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Model } from '../federation/model.js';
import type { BuiltinTrainerSpec, DatasetSpec } from './builtin-spec.js';
import { BuiltinTrainer } from './builtin-trainer.js';
import { describeModel } from './model-description.js';
import { Network } from './network.js';
import { bceWithLogits } from './local-training.js';
import { normal, rng } from '../process/random.js';
import { loadTabularDataset } from './tabular-dataset.js';
import type { TrainParams } from './trainer.js';

let dir: string;
let dataPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-builtin-'));
  // 400 records, label = 1 when 2·a − b + (c == 1) + noise > 0; a and b on unlike scales.
  const random = rng(11);
  const lines = Array.from({ length: 400 }, () => {
    const a = normal(random);
    const b = 100 + 20 * normal(random);
    const c = Math.floor(random() * 3);
    const y = 2 * a - (b - 100) / 20 + (c === 1 ? 1 : 0) + 0.3 * normal(random) > 0 ? 1 : 0;
    return `${a.toFixed(4)},${b.toFixed(2)},${c},${y}`;
  });
  dataPath = join(dir, 'site.csv');
  await writeFile(dataPath, `${lines.join('\n')}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function dataset(standardize: DatasetSpec['standardize']): DatasetSpec {
  return {
    header: false,
    missingValues: ['?'],
    label: { column: 3, positiveAbove: 0 },
    features: [
      { name: 'a', column: 0 },
      { name: 'b', column: 1 },
      { name: 'c', column: 2, oneHot: [1, 2] },
    ],
    testFraction: 0.25,
    stratify: true,
    standardize,
  };
}

const params: TrainParams = { localEpochs: 5, localSteps: 0, batchSize: 16, learningRate: 0.1, proximalMu: 0, seed: 9 };
const open = (spec: BuiltinTrainerSpec) => BuiltinTrainer.open({ spec, dataPath, site: 'site', jobSeed: 1 });
const values = (m: Model) => m.flatMap((t) => [...t.data]);
const distance = (a: Model, b: Model) => Math.hypot(...values(a).map((v, i) => v - values(b)[i]!));

describe('Network', () => {
  it('names and shapes tensors as PyTorch does', () => {
    const lr = new Network([13, 1]).toModel(new Float64Array(14));
    expect(lr.map((t) => [t.name, t.shape])).toEqual([['weight', [1, 13]], ['bias', [1]]]);
    const mlp = new Network([13, 8, 4, 1]).toModel(new Float64Array(new Network([13, 8, 4, 1]).size));
    expect(mlp.map((t) => [t.name, t.shape])).toEqual([
      ['0.weight', [8, 13]],
      ['0.bias', [8]],
      ['2.weight', [4, 8]],
      ['2.bias', [4]],
      ['4.weight', [1, 4]],
      ['4.bias', [1]],
    ]);
  });

  it('initialises logistic regression at zero and an MLP uniformly within ±1/√fan_in, by seed', () => {
    expect([...new Network([5, 1]).initialParameters(3)].every((v) => v === 0)).toBe(true);
    const net = new Network([16, 4, 1]);
    const p = net.initialParameters(3);
    const m = net.toModel(p);
    expect(m[0]!.data.every((v) => Math.abs(v) <= 0.25) && m[1]!.data.every((v) => Math.abs(v) <= 0.25)).toBe(true);
    expect(m[2]!.data.every((v) => Math.abs(v) <= 0.5)).toBe(true);
    expect(new Set(m[0]!.data).size).toBe(64);
    expect(net.initialParameters(3)).toEqual(p);
    expect(net.initialParameters(4)).not.toEqual(p);
  });

  it('back-propagates the exact gradient of the BCE loss (checked by finite differences)', () => {
    const net = new Network([3, 5, 4, 1]);
    const params = net.initialParameters(2);
    const x = Float64Array.from([0.5, -1.2, 2.0, 1.5, 0.3, -0.7]);
    const y = [1, 0];
    const loss = (p: Float64Array) => y.reduce((s, label, r) => s + bceWithLogits(net.forward(p, x, r), label), 0);
    const grad = new Float64Array(net.size);
    y.forEach((label, r) => {
      const z = net.forward(params, x, r);
      net.backward(params, grad, x, r, 1 / (1 + Math.exp(-z)) - label);
    });
    for (let j = 0; j < net.size; j++) {
      const h = 1e-6;
      const up = Float64Array.from(params);
      const down = Float64Array.from(params);
      up[j] = up[j]! + h;
      down[j] = down[j]! - h;
      expect(grad[j]).toBeCloseTo((loss(up) - loss(down)) / (2 * h), 6);
    }
  });

  it('refuses a model of another shape', () => {
    const model = new Network([4, 1]).toModel(new Float64Array(5));
    expect(() => new Network([3, 1]).fromModel(model)).toThrow(/got weight\[1,4\] bias\[1\], expected weight\[1,3\] bias\[1\]/);
  });
});

describe('BuiltinTrainer', () => {
  it('learns a separable problem, deterministically for a seed', async () => {
    const trainer = await open({ model: 'LogisticRegression', dataset: dataset('Local') });
    expect(trainer.splitSizes).toEqual({ train: 300, test: 100, dropped: 0 });
    const initial = await trainer.initialize(0);
    const before = await trainer.evaluate(initial, 0);
    expect(before.loss).toBeCloseTo(Math.log(2), 12);
    const { model, metrics } = await trainer.train(initial, params, 1);
    expect(metrics.numSamples).toBe(300);
    const after = await trainer.evaluate(model, 1);
    expect(after).toMatchObject({ numSamples: 100 });
    expect(after.loss).toBeLessThan(0.35);
    expect(after.accuracy).toBeGreaterThan(0.85);
    expect(values((await trainer.train(initial, params, 1)).model)).toEqual(values(model));
    expect(values((await trainer.train(initial, { ...params, seed: 10 }, 1)).model)).not.toEqual(values(model));
  });

  it('takes one full-batch SGD step as the formula says (localSteps)', async () => {
    const trainer = await open({ model: 'LogisticRegression', dataset: dataset('None') });
    const initial = await trainer.initialize(0);
    const step = { ...params, localEpochs: 0, localSteps: 1, batchSize: 1000 };
    const { model } = await trainer.train(initial, step, 1);
    // From w = 0 every prediction is 0.5: the step is −lr · mean((0.5 − y)·[x, 1]).
    const split = (await loadTabularDataset(dataPath, dataset('None'), 1, 'site')).train;
    const expected = new Float64Array(5);
    for (let r = 0; r < split.rows; r++) {
      const d = 0.5 - split.y[r]!;
      for (let j = 0; j < 4; j++) expected[j] = expected[j]! - (0.1 * d * split.x[r * 4 + j]!) / split.rows;
      expected[4] = expected[4]! - (0.1 * d) / split.rows;
    }
    values(model).forEach((v, j) => expect(v).toBeCloseTo(expected[j]!, 5));
  });

  it('trains an MLP and holds it near the global model under a strong FedProx term', async () => {
    const trainer = await open({ model: 'MLP', hiddenUnits: [8], dataset: dataset('Local') });
    const initial = await trainer.initialize(5);
    expect(initial.map((t) => t.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const free = await trainer.train(initial, params, 1);
    const held = await trainer.train(initial, { ...params, proximalMu: 5 }, 1);
    expect((await trainer.evaluate(free.model, 1)).accuracy).toBeGreaterThan(0.85);
    expect(distance(held.model, initial)).toBeLessThan(distance(free.model, initial) / 3);
  });

  it('with Federated standardisation, shares only sums and waits for the global statistics', async () => {
    const spec: BuiltinTrainerSpec = { model: 'LogisticRegression', dataset: dataset('Federated') };
    const trainer = await open(spec);
    const initial = await trainer.initialize(0);
    await expect(trainer.train(initial, params, 1)).rejects.toThrow(/global statistics have not been received/);
    const stats = (await trainer.statistics())!;
    expect(stats.length).toBe(1 + 2 * 4);
    expect(stats[0]).toBe(300);
    // The sum of two sites: this one twice gives the same means and stds as this one alone.
    trainer.useStatistics(stats.map((v) => 2 * v));
    const { model } = await trainer.train(initial, params, 1);
    expect((await trainer.evaluate(model, 1)).accuracy).toBeGreaterThan(0.85);

    const description = describeModel(spec, stats);
    expect(description.inputs).toEqual([
      { name: 'a', column: 0 },
      { name: 'b', column: 1 },
      { name: 'c=1', column: 2, level: 1 },
      { name: 'c=2', column: 2, level: 2 },
    ]);
    expect(description.tensors).toEqual([{ name: 'weight', shape: [1, 4] }, { name: 'bias', shape: [1] }]);
    expect(description.label).toEqual({ column: 3, positiveAbove: 0 });
    if (description.standardize.mode !== 'Federated') throw new Error('expected Federated');
    expect(description.standardize.mean[1]).toBeCloseTo(stats[2]! / 300, 9);
    expect(description.standardize.mean.slice(2)).toEqual([0, 0]);
    expect(description.standardize.std.slice(2)).toEqual([1, 1]);
    expect(() => describeModel(spec, null)).toThrow(/summed site statistics/);
  });

  it('needs no statistics with Local or None standardisation', async () => {
    const local = await open({ model: 'LogisticRegression', dataset: dataset('Local') });
    expect(await local.statistics()).toBeNull();
    const description = describeModel({ model: 'MLP', dataset: dataset('Local') }, null);
    expect(description.standardize.mode).toBe('Local');
    expect(description.hiddenUnits).toEqual([16]);
  });
});
