/**
 * The built-in trainer on the four real hospitals of UCI Heart Disease (FLamby's Fed-Heart-Disease),
 * with FedAvg done in process: the accuracy the example job gets. Published FLamby figures: FedAvg
 * 0.685 mean test accuracy over the four hospitals, pooled training 0.735.
 */
import { fileURLToPath } from 'node:url';
import type { Model } from '../federation/model.js';
import type { BuiltinTrainerSpec, DatasetSpec } from './builtin-spec.js';
import { BuiltinTrainer } from './builtin-trainer.js';
import { deriveSeed } from '../process/random.js';
import type { Metrics, TrainParams } from './trainer.js';

const dataDir = fileURLToPath(new URL('../../examples/heart-disease/data/', import.meta.url));
const hospitals = ['cleveland', 'hungarian', 'switzerland', 'va'] as const;

/** The benchmark recipe (examples/heart-disease/data/README.md). */
function heartDisease(standardize: DatasetSpec['standardize']): DatasetSpec {
  return {
    header: false,
    missingValues: ['?', ''],
    label: { column: 13, positiveAbove: 0 },
    features: [
      { name: 'age', column: 0 },
      { name: 'sex', column: 1 },
      { name: 'trestbps', column: 3 },
      { name: 'chol', column: 4 },
      { name: 'fbs', column: 5 },
      { name: 'thalach', column: 7 },
      { name: 'exang', column: 8 },
      { name: 'oldpeak', column: 9 },
      { name: 'cp', column: 2, oneHot: [2, 3, 4] },
      { name: 'restecg', column: 6, oneHot: [1, 2] },
    ],
    testFraction: 0.34,
    stratify: true,
    standardize,
  };
}

interface Recipe {
  spec: BuiltinTrainerSpec;
  rounds: number;
  params: Omit<TrainParams, 'seed' | 'proximalMu'>;
}

/** The settings recommended for examples/heart-disease/federatedjob.yaml. */
const recommended: Recipe = {
  spec: { model: 'LogisticRegression', dataset: heartDisease('Federated') },
  rounds: 20,
  params: { localEpochs: 1, localSteps: 0, batchSize: 64, learningRate: 0.1 },
};

/** The benchmark's own preprocessing (each hospital z-scores with its own statistics). */
const benchmarkLocal: Recipe = {
  spec: { model: 'LogisticRegression', dataset: heartDisease('Local') },
  rounds: 20,
  params: { localEpochs: 3, localSteps: 0, batchSize: 64, learningRate: 0.1 },
};

async function openSites(spec: BuiltinTrainerSpec, jobSeed: number): Promise<BuiltinTrainer[]> {
  return Promise.all(
    hospitals.map((site) => BuiltinTrainer.open({ spec, dataPath: `${dataDir}processed.${site}.data`, site, jobSeed })),
  );
}

/** FedAvg: every hospital trains each round, updates averaged weighted by training samples. */
async function federate(recipe: Recipe, jobSeed: number): Promise<Metrics[]> {
  const sites = await openSites(recipe.spec, jobSeed);
  const stats = await Promise.all(sites.map((s) => s.statistics()));
  if (stats.every((s) => s !== null)) {
    const sum = new Float64Array(stats[0]!.length);
    for (const s of stats) s.forEach((v, i) => (sum[i] = sum[i]! + v));
    for (const site of sites) site.useStatistics(sum);
  }
  let global: Model = await sites[0]!.initialize(deriveSeed(jobSeed, 'initialize'));
  for (let round = 1; round <= recipe.rounds; round++) {
    const updates = await Promise.all(
      sites.map((site, k) =>
        site.train(global, { ...recipe.params, proximalMu: 0, seed: deriveSeed(jobSeed, 'train', round, hospitals[k]!) }, round),
      ),
    );
    const total = updates.reduce((n, u) => n + u.metrics.numSamples, 0);
    global = global.map((tensor, t) => {
      const data = new Float32Array(tensor.data.length);
      for (const u of updates) {
        const weight = u.metrics.numSamples / total;
        u.model[t]!.data.forEach((v, i) => (data[i] = data[i]! + weight * v));
      }
      return { ...tensor, data };
    });
  }
  return Promise.all(sites.map((site) => site.evaluate(global, recipe.rounds)));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

describe('heart disease, four hospitals, FedAvg with the built-in trainer', () => {
  it('splits each hospital as the benchmark does', async () => {
    const sites = await openSites(recommended.spec, 0);
    expect(sites.map((s) => s.splitSizes)).toEqual([
      { train: 199, test: 104, dropped: 0 },
      { train: 172, test: 89, dropped: 33 },
      { train: 30, test: 16, dropped: 77 },
      { train: 85, test: 45, dropped: 70 },
    ]);
  });

  it('beats the published FedAvg figure with federated standardisation', async () => {
    const accuracy = (await federate(recommended, 0)).map((m) => m.accuracy);
    expect(mean(accuracy)).toBeGreaterThanOrEqual(0.74);
    for (const a of accuracy) expect(a).toBeGreaterThanOrEqual(0.65);
  });

  it('beats the published FedAvg figure with local standardisation too', async () => {
    expect(mean((await federate(benchmarkLocal, 0)).map((m) => m.accuracy))).toBeGreaterThanOrEqual(0.7);
  });

  it('reports mean ± sd over five job seeds (splits and shuffles change with the seed)', async () => {
    const lines: string[] = [];
    for (const [name, recipe] of Object.entries({ recommended, benchmarkLocal })) {
      const runs = await Promise.all([0, 1, 2, 3, 4].map((seed) => federate(recipe, seed)));
      const means = runs.map((r) => mean(r.map((m) => m.accuracy)));
      const loss = mean(runs.map((r) => mean(r.map((m) => m.loss))));
      const perHospital = hospitals.map((h, k) => `${h} ${mean(runs.map((r) => r[k]!.accuracy)).toFixed(3)}`).join(', ');
      lines.push(
        `${name}: ${mean(means).toFixed(3)} ± ${sd(means).toFixed(3)}, test loss ${loss.toFixed(3)} (seeds 0-4: ${means.map((m) => m.toFixed(3)).join(' ')}; ${perHospital})`,
      );
      expect(means.every(Number.isFinite)).toBe(true);
    }
    process.stdout.write(`heart disease, mean test accuracy over 4 hospitals, 5 seeds:\n  ${lines.join('\n  ')}\n`);
  });
});
