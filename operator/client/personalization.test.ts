import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../api/crds.js';
import { withControlVariates } from '../federation/control-variates.js';
import { FINE_TUNED_ACCURACY, FINE_TUNED_LOSS } from '../federation/metric-keys.js';
import { normal, rng } from '../process/random.js';
import { BuiltinTrainer } from '../trainer/builtin-trainer.js';
import { CommandTrainer } from '../trainer/command-trainer.js';
import { fineTuned, withFineTuned } from './personalization.js';
import { ScaffoldTrainer } from './scaffold-trainer.js';
import { SiteControlVariate } from './site-control-variate.js';

let dir: string;
let dataPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-personal-'));
  const random = rng(8);
  // A site whose records are mostly positive: the global model below predicts them all negative.
  const lines = Array.from({ length: 100 }, () => {
    const a = normal(random);
    return `${a.toFixed(4)},${a + 1.5 + 0.5 * normal(random) > 0 ? 1 : 0}`;
  });
  dataPath = join(dir, 'site.csv');
  await writeFile(dataPath, `${lines.join('\n')}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const spec = {
  model: 'LogisticRegression' as const,
  dataset: { header: false, missingValues: [], label: { column: 1, positiveAbove: 0 }, features: [{ name: 'a', column: 0 }], testFraction: 0.3, stratify: false, standardize: 'None' as const },
};
const open = () => BuiltinTrainer.open({ spec, dataPath, site: 'site', jobSeed: 2 });
const global = [
  { name: 'weight', shape: [1, 1], data: new Float32Array([0.1]) },
  { name: 'bias', shape: [1], data: new Float32Array([-3]) },
];
const settings = { localEpochs: 5, learningRate: 0.5, batchSize: 8 };

describe('fine-tuning the final model at a site', () => {
  it('fits the site better than the global model, on the same test records', async () => {
    const trainer = await open();
    const before = await trainer.evaluate(global, 4);
    const after = await fineTuned(trainer, global, settings, 17, 4);
    expect(after.numSamples).toBe(before.numSamples);
    expect(after.loss).toBeLessThan(before.loss - 0.5);
    expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.3);
    // Both travel in one evaluation: the global figures as they were, the fine-tuned ones beside them.
    const both = withFineTuned(before, after);
    expect(both).toMatchObject({ loss: before.loss, accuracy: before.accuracy, extra: { [FINE_TUNED_LOSS]: after.loss, [FINE_TUNED_ACCURACY]: after.accuracy } });
  });

  it('under SCAFFOLD, fine-tunes the model alone, without the correction, and keeps no control variate', async () => {
    const work = await mkdtemp(join(dir, 'work-'));
    const kept = await SiteControlVariate.open(work);
    const scaffold = new ScaffoldTrainer(await open(), kept);
    const c = global.map((t) => ({ ...t, data: new Float32Array(t.data.length).fill(5) }));
    const tuned = await fineTuned(scaffold, withControlVariates(global, c), settings, 17, 4);
    expect(tuned).toEqual(await fineTuned(await open(), global, settings, 17, 4));
    expect(await kept.rounds()).toEqual([]);
  });

  it('asks a bring-your-own trainer to train once more and to evaluate what it made', async () => {
    // The robust tests' command trainer: training moves w half way to the site's target; loss is the squared distance.
    const data = join(dir, 'target.json');
    await writeFile(data, JSON.stringify({ target: [2, -2, 4] }));
    const trainer = new CommandTrainer({
      command: [process.execPath, join(packageRoot, 'test/support/robust/drift-trainer.mjs')],
      workDir: dir,
      dataPath: data,
      site: 'site',
      jobSeed: 1,
      timeoutSeconds: 60,
      env: { ...process.env, ROBUST_SAFETENSORS_MODULE: pathToFileURL(join(packageRoot, 'dist/operator/federation/safetensors.js')).href },
    });
    try {
      const zero = [{ name: 'w', shape: [3], data: new Float32Array(3) }];
      const before = await trainer.evaluate(zero, 5);
      const after = await fineTuned(trainer, zero, settings, 17, 5);
      expect(before.loss).toBeCloseTo(8, 5);
      expect(after.loss).toBeCloseTo(2, 5); // one call of train: half way, so a quarter of the squared distance
    } finally {
      await trainer.close();
    }
  });
});
