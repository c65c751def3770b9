import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Model } from '../federation/model.js';
import { writeSafetensors } from '../federation/safetensors.js';
import { CommandTrainer, type CommandTrainerOptions } from './command-trainer.js';
import type { TrainParams } from './trainer.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const cleveland = join(repo, 'examples/heart-disease/data/processed.cleveland.data');
const params: TrainParams = { localEpochs: 5, localSteps: 0, batchSize: 16, learningRate: 0.1, proximalMu: 0, seed: 4 };
const model: Model = [
  { name: 'weight', shape: [1, 3], data: Float32Array.from([1, 2, 3]) },
  { name: 'bias', shape: [1], data: Float32Array.from([0.5]) },
];

/** A stand-in trainer in plain Node whose behaviour FAKE_MODE picks. */
const fakeTrainer = `
import { copyFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
const env = process.env;
const metrics = (m) => writeFileSync(env.FLOTILLA_METRICS_OUT, JSON.stringify(m));
switch (env.FAKE_MODE) {
  case 'echo': {
    const seen = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('FLOTILLA_')));
    writeFileSync('seen-' + env.FLOTILLA_TASK + '.json', JSON.stringify({ ...seen, cwd: process.cwd() }));
    if (env.FLOTILLA_MODEL_OUT) copyFileSync(env.FLOTILLA_MODEL_IN ?? env.FAKE_MODEL, env.FLOTILLA_MODEL_OUT);
    if (env.FLOTILLA_METRICS_OUT) metrics({ num_samples: 7, loss: 0.25, accuracy: 0.75, auc: 0.8 });
    break;
  }
  case 'copy': copyFileSync(env.FAKE_MODEL, env.FLOTILLA_MODEL_OUT); metrics({ num_samples: 7, loss: 0.25, accuracy: 0.75 }); break;
  case 'fail': process.stderr.write('loading data...\\nValueError: no such column\\n'); process.exit(3);
  case 'silent': break;
  case 'bad-metrics': copyFileSync(env.FLOTILLA_MODEL_IN, env.FLOTILLA_MODEL_OUT); metrics(JSON.parse(env.FAKE_METRICS)); break;
  case 'hang': {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    writeFileSync('grandchild.pid', String(child.pid));
    setTimeout(() => {}, 60000);
    break;
  }
}
`;

let dir: string;
let venvBin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-command-'));
  await writeFile(join(dir, 'fake-trainer.mjs'), fakeTrainer);
  const { stdout } = await promisify(execFile)('bash', [join(repo, 'scripts/python-env.sh')], { cwd: repo });
  venvBin = stdout.trim().split('\n').at(-1)!;
}, 600_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

const opened: CommandTrainer[] = [];
afterEach(() => Promise.all(opened.splice(0).map((t) => t.close())));

function fake(mode: string, more: Partial<CommandTrainerOptions> = {}, env: Record<string, string> = {}): CommandTrainer {
  const trainer = new CommandTrainer({
    command: [process.execPath, join(dir, 'fake-trainer.mjs')],
    workDir: dir,
    dataPath: '/data/site.csv',
    site: 'hospital-a',
    jobSeed: 42,
    timeoutSeconds: 30,
    env: { PATH: process.env.PATH ?? '', FAKE_MODE: mode, ...env },
    ...more,
  });
  opened.push(trainer);
  return trainer;
}

async function fixture(name: string, m: Model): Promise<string> {
  const path = join(dir, name);
  await writeSafetensors(path, m);
  return path;
}

describe('CommandTrainer with the example Python trainer', () => {
  let trainer: CommandTrainer;
  beforeAll(() => {
    trainer = new CommandTrainer({
      command: [join(venvBin, 'python'), 'train.py'],
      workDir: join(repo, 'examples/byo-python'),
      dataPath: cleveland,
      site: 'cleveland',
      jobSeed: 0,
      timeoutSeconds: 120,
    });
  });
  afterAll(() => trainer.close());

  it('initializes, trains and evaluates logistic regression on a real hospital', async () => {
    const initial = await trainer.initialize(0);
    expect(Object.fromEntries(initial.map((t) => [t.name, t.shape]))).toEqual({ weight: [1, 13], bias: [1] });
    expect(initial.every((t) => t.data.every((v) => v === 0))).toBe(true);
    const global = [initial.find((t) => t.name === 'weight')!, initial.find((t) => t.name === 'bias')!];

    const trained = await trainer.train(global, params, 1);
    expect(trained.model.map((t) => t.name)).toEqual(['weight', 'bias']); // the global model's order, whatever the file's
    expect(trained.metrics.numSamples).toBe(199);
    expect(trained.model[0]!.data.some((v) => v !== 0)).toBe(true);
    const again = await trainer.train(global, params, 1);
    expect(again.model.map((t) => [...t.data])).toEqual(trained.model.map((t) => [...t.data]));

    const evaluation = await trainer.evaluate(trained.model, 1);
    expect(evaluation.numSamples).toBe(104);
    expect(evaluation.accuracy).toBeGreaterThan(0.7);
    expect(evaluation.loss).toBeLessThan(0.6);
  });
});

describe('CommandTrainer', () => {
  it('passes each task its FLOTILLA_* variables, in the working directory, and reads extra metrics', async () => {
    const initialModel = await fixture('initial.safetensors', model);
    const trainer = fake('echo', {}, { FAKE_MODEL: initialModel, FLOTILLA_MODEL_IN: '/stale/from/parent' });
    expect(await trainer.statistics()).toBeNull();
    expect((await trainer.initialize(17)).map((t) => [...t.data])).toEqual([[1, 2, 3], [0.5]]);
    const trained = await trainer.train(model, { ...params, proximalMu: 0.01 }, 3);
    expect(trained.metrics).toEqual({ numSamples: 7, loss: 0.25, accuracy: 0.75, extra: { auc: 0.8 } });
    await trainer.evaluate(model, 3);
    await trainer.close();

    const seen = async (task: string) => JSON.parse(await readFile(join(dir, `seen-${task}.json`), 'utf8'));
    const initialize = await seen('initialize');
    expect(initialize).toMatchObject({ FLOTILLA_TASK: 'initialize', FLOTILLA_ROUND: '0', FLOTILLA_SEED: '17', cwd: dir });
    expect(initialize.FLOTILLA_MODEL_IN).toBeUndefined();
    expect(initialize.FLOTILLA_CONFIG).toBeUndefined();
    const train = await seen('train');
    expect(train).toMatchObject({ FLOTILLA_TASK: 'train', FLOTILLA_ROUND: '3', FLOTILLA_SEED: '42', FLOTILLA_DATA: '/data/site.csv', FLOTILLA_SITE: 'hospital-a' });
    expect(JSON.parse(train.FLOTILLA_CONFIG)).toEqual({ local_epochs: 5, local_steps: 0, batch_size: 16, learning_rate: 0.1, proximal_mu: 0.01, seed: 4 });
    for (const v of ['FLOTILLA_MODEL_IN', 'FLOTILLA_MODEL_OUT', 'FLOTILLA_METRICS_OUT']) expect(train[v]).toMatch(/^\//);
    const evaluate = await seen('evaluate');
    expect(evaluate).toMatchObject({ FLOTILLA_TASK: 'evaluate', FLOTILLA_ROUND: '3', FLOTILLA_SEED: '42' });
    expect(evaluate.FLOTILLA_MODEL_OUT).toBeUndefined();
  });

  it('reports a failing command with the end of its stderr', async () => {
    await expect(fake('fail').train(model, params, 1)).rejects.toThrow(/\(train, round 1\) failed \(exit code 3\); stderr ends with:\nloading data...\nValueError: no such column/);
  });

  it('kills the whole process group at the timeout', async () => {
    const trainer = fake('hang', { timeoutSeconds: 1 });
    await expect(trainer.train(model, params, 2)).rejects.toThrow(/did not finish within 1 s and was killed/);
    const grandchild = Number(await readFile(join(dir, 'grandchild.pid'), 'utf8'));
    // Gone, or a zombie waiting for whoever adopted it to reap it.
    const alive = () => {
      try {
        process.kill(grandchild, 0);
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${grandchild}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
  });

  it('refuses missing, misshapen and non-finite models', async () => {
    await expect(fake('silent').train(model, params, 1)).rejects.toThrow(/did not write its model to FLOTILLA_MODEL_OUT/);
    const wider = await fixture('wider.safetensors', [{ ...model[0]!, shape: [1, 4], data: new Float32Array(4) }, model[1]!]);
    await expect(fake('copy', {}, { FAKE_MODEL: wider }).train(model, params, 1)).rejects.toThrow(
      /not the global model's shape: got bias\[1\] weight\[1,4\], expected bias\[1\] weight\[1,3\]/,
    );
    const renamed = await fixture('renamed.safetensors', [{ ...model[0]!, name: 'w' }, model[1]!]);
    await expect(fake('copy', {}, { FAKE_MODEL: renamed }).train(model, params, 1)).rejects.toThrow(/got bias\[1\] w\[1,3\]/);
    const nan = await fixture('nan.safetensors', model);
    const bytes = await readFile(nan);
    bytes.writeFloatLE(Number.NaN, bytes.length - 4);
    await writeFile(nan, bytes);
    await expect(fake('copy', {}, { FAKE_MODEL: nan }).train(model, params, 1)).rejects.toThrow(/cannot be used: .*NaN or Infinity/);
  });

  it('refuses metrics that are missing or not finite numbers', async () => {
    const bad = (metrics: unknown) => fake('bad-metrics', {}, { FAKE_METRICS: JSON.stringify(metrics) }).train(model, params, 1);
    await expect(bad({ num_samples: 0, loss: 1, accuracy: 1 })).rejects.toThrow(/num_samples must be a whole number ≥ 1, got 0/);
    await expect(bad({ num_samples: 5, loss: 'low', accuracy: 1 })).rejects.toThrow(/loss must be a finite number, got "low"/);
    await expect(bad({ num_samples: 5, loss: 1, accuracy: 1, f1: null })).rejects.toThrow(/f1 must be a finite number/);
    await expect(bad([1])).rejects.toThrow(/must be a JSON object/);
  });

  it('says when the command cannot start', async () => {
    const trainer = fake('echo', { command: [join(dir, 'no-such-program')] });
    await expect(trainer.initialize(0)).rejects.toThrow(/could not start in .*ENOENT/);
  });
});
