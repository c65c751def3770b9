import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../api/crds.js';
import { splitControlVariates, withControlVariates } from '../federation/control-variates.js';
import type { Model } from '../federation/model.js';
import { BuiltinTrainer } from '../trainer/builtin-trainer.js';
import { CommandTrainer } from '../trainer/command-trainer.js';
import { normal, rng } from '../process/random.js';
import type { TrainParams, Trainer } from '../trainer/trainer.js';
import { ScaffoldTrainer } from './scaffold-trainer.js';
import { SiteControlVariate } from './site-control-variate.js';

let dir: string;
let dataPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-scaffold-site-'));
  const random = rng(3);
  const lines = Array.from({ length: 120 }, () => {
    const a = normal(random);
    const b = normal(random);
    return `${a.toFixed(4)},${b.toFixed(4)},${a - 0.5 * b + 0.3 * normal(random) > 0.4 ? 1 : 0}`;
  });
  dataPath = join(dir, 'site.csv');
  await writeFile(dataPath, `${lines.join('\n')}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const spec = {
  model: 'LogisticRegression' as const,
  dataset: {
    header: false,
    missingValues: ['?'],
    label: { column: 2, positiveAbove: 0 },
    features: [
      { name: 'a', column: 0 },
      { name: 'b', column: 1 },
    ],
    testFraction: 0.25,
    stratify: false,
    standardize: 'None' as const,
  },
};
const params: TrainParams = { localEpochs: 2, localSteps: 0, batchSize: 10, learningRate: 0.2, proximalMu: 0, seed: 5 };
const builtin = () => BuiltinTrainer.open({ spec, dataPath, site: 'site', jobSeed: 1 });
const flat = (m: Model) => m.flatMap((t) => [...t.data]);
/** The global model x = (0.3, −0.2 | 0.1) with the server's c = (0.05, −0.1 | 0.02). */
const received = (): Model =>
  withControlVariates(
    [
      { name: 'weight', shape: [1, 2], data: new Float32Array([0.3, -0.2]) },
      { name: 'bias', shape: [1], data: new Float32Array([0.1]) },
    ],
    [
      { name: 'weight', shape: [1, 2], data: new Float32Array([0.05, -0.1]) },
      { name: 'bias', shape: [1], data: new Float32Array([0.02]) },
    ],
  );

describe("a site's side of SCAFFOLD", () => {
  it('trains on g − c_i + c, sends y_i and c + Δc_i, and keeps c_i⁺ = c_i − c + (x − y_i)/(K·η_l) only once accepted', async () => {
    const work = await mkdtemp(join(dir, 'work-'));
    const inner = await builtin();
    const site = new ScaffoldTrainer(inner, await SiteControlVariate.open(work));
    const global = received();
    const { model: x, variates: c } = splitControlVariates(global);

    const trained = await site.train(global, params, 1);
    // c_i⁰ = 0: the local steps are corrected by c alone, as the trainer's own run with that correction shows.
    const expected = await inner.train(x, { ...params, correction: c }, 1);
    const sent = splitControlVariates(trained.model);
    expect(flat(sent.model)).toEqual(flat(expected.model));
    const K = expected.steps!;
    expect(K).toBe(2 * Math.ceil(90 / 10));
    const ciNext = flat(x).map((xj, j) => 0 - flat(c)[j]! + (xj - flat(expected.model)[j]!) / (K * params.learningRate));
    flat(sent.variates).forEach((v, j) => expect(v).toBeCloseTo(flat(c)[j]! + ciNext[j]!, 5));
    // Nothing is kept before the update was accepted.
    expect(await readdir(join(work, 'control-variates'))).toEqual([]);
    await trained.commit!();
    expect(await readdir(join(work, 'control-variates'))).toEqual(['round-000001.safetensors']);

    // A restarted client finds c_i where it was; round 2 starts from it, and so does round 2 run again.
    const restarted = new ScaffoldTrainer(await builtin(), await SiteControlVariate.open(work));
    const kept = flat((await SiteControlVariate.open(work).then((s) => s.before(2)))!);
    kept.forEach((v, j) => expect(v).toBeCloseTo(ciNext[j]!, 5));
    const round2 = await restarted.train(global, params, 2);
    await round2.commit!();
    const again = await restarted.train(global, params, 2);
    expect(flat(again.model)).toEqual(flat(round2.model));
    // The correction c − c_i is now c − c_i¹: the local steps differ from round 1's.
    expect(flat(splitControlVariates(round2.model).model)).not.toEqual(flat(sent.model));
  });

  it('keeps only what a later round or a re-run can start from', async () => {
    const kept = await SiteControlVariate.open(await mkdtemp(join(dir, 'work-')));
    const variate = (v: number): Model => [{ name: 'w', shape: [1], data: new Float32Array([v]) }];
    for (const round of [1, 2, 4, 5]) await kept.save(round, variate(round));
    expect(await kept.rounds()).toEqual([4, 5]);
    expect(flat((await kept.before(5))!)).toEqual([4]);
    expect(flat((await kept.before(9))!)).toEqual([5]);
    expect(await kept.before(1)).toBeNull();
  });

  it('refuses a trainer that takes no control variates, and a model without them', async () => {
    const plain = { ...(await builtin()), controlVariates: false } as unknown as Trainer;
    expect(() => new ScaffoldTrainer(plain, null as unknown as SiteControlVariate)).toThrow(/needs a trainer that takes control variates/);
    const site = new ScaffoldTrainer(await builtin(), await SiteControlVariate.open(await mkdtemp(join(dir, 'work-'))));
    await expect(site.train(splitControlVariates(received()).model, params, 1)).rejects.toThrow(/control variates do not match/);
  });

  describe('with a bring-your-own trainer that declares control variates', () => {
    const command = (script: string, controlVariates: boolean, data: string) =>
      new CommandTrainer({
        command: [process.execPath, join(packageRoot, 'test/support', script)],
        workDir: dir,
        dataPath: data,
        site: 'site',
        jobSeed: 1,
        timeoutSeconds: 60,
        controlVariates,
        env: {
          ...process.env,
          SAFETENSORS_MODULE: pathToFileURL(join(packageRoot, 'dist/operator/federation/safetensors.js')).href,
          ROBUST_SAFETENSORS_MODULE: pathToFileURL(join(packageRoot, 'dist/operator/federation/safetensors.js')).href,
        },
      });
    const vector = (values: number[]): Model => [{ name: 'w', shape: [values.length], data: new Float32Array(values) }];

    it('hands it c − c_i and takes its step count, for the same update as the formula', async () => {
      // ½‖w − t‖², K = 4 steps of η = 0.25 from x = 0, with c = (1, −1) and c_i = 0: each step moves
      // w − (t − c) by a factor 1 − η, so y = (t − c)·(1 − 0.75^4).
      const data = join(dir, 'quadratic.json');
      await writeFile(data, JSON.stringify({ target: [2, 4], steps: 4 }));
      const inner = command('scaffold/sgd-trainer.mjs', true, data);
      const site = new ScaffoldTrainer(inner, await SiteControlVariate.open(await mkdtemp(join(dir, 'work-'))));
      try {
        const c = [1, -1];
        const trained = await site.train(withControlVariates(vector([0, 0]), vector(c)), { ...params, learningRate: 0.25 }, 1);
        const { model: y, variates } = splitControlVariates(trained.model);
        const shrink = 1 - 0.75 ** 4;
        const expectedY = [(2 - 1) * shrink, (4 + 1) * shrink];
        flat(y).forEach((v, j) => expect(v).toBeCloseTo(expectedY[j]!, 5));
        // c + Δc_i = c + (c_i⁺ − 0) with c_i⁺ = −c + (0 − y)/(K·η): so it is −y/(4·0.25) = −y.
        flat(variates).forEach((v, j) => expect(v).toBeCloseTo(-expectedY[j]!, 5));
      } finally {
        await inner.close();
      }
    });

    it('refuses its update when it does not say how many steps it took', async () => {
      const data = join(dir, 'drift.json');
      await writeFile(data, JSON.stringify({ target: [1, 1] }));
      const inner = command('robust/drift-trainer.mjs', true, data);
      const site = new ScaffoldTrainer(inner, await SiteControlVariate.open(await mkdtemp(join(dir, 'work-'))));
      try {
        await expect(site.train(withControlVariates(vector([0, 0])), params, 1)).rejects.toThrow(/must write local_steps_taken/);
      } finally {
        await inner.close();
      }
    });
  });
});
