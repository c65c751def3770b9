/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { packageRoot, readCrd } from './crds.js';
import { loadFederatedJob, parseFederatedJob } from './federatedjob.js';
import { SchemaValidator } from './validate.js';

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);
const builtin = { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' } };

function job(strategy: Record<string, unknown>, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c'] }, rounds: 3, minSites: 2, trainer: { builtin }, strategy, ...spec },
  };
}
const errors = (j: any) => validator.check(j).map((e) => `${e.field}: ${e.message}`);

describe('strategy SCAFFOLD', () => {
  it('takes the built-in trainer, with or without a server learning rate, and defaults it to 1', () => {
    expect(errors(job({ name: 'SCAFFOLD' }))).toEqual([]);
    expect(errors(job({ name: 'SCAFFOLD', scaffold: { serverLearningRate: 0.5 } }, { sitesPerRound: 2 }))).toEqual([]);
    expect(parseFederatedJob(job({ name: 'SCAFFOLD', scaffold: {} })).spec.strategy.scaffold).toEqual({ serverLearningRate: 1 });
  });

  it('takes a command trainer that declares control variates', () => {
    const trainer = { command: ['python', 'train.py'], image: 'r.example/t:1', controlVariates: true };
    expect(errors(job({ name: 'SCAFFOLD' }, { trainer }))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['a command trainer', { name: 'SCAFFOLD' }, { trainer: { command: ['python', 'train.py'], image: 'r.example/t:1' } }, /spec.strategy.name: .*SCAFFOLD needs the built-in trainer or a command trainer that declares trainer.controlVariates/],
    ['controlVariates declared by the built-in trainer', { name: 'SCAFFOLD' }, { trainer: { builtin, controlVariates: true } }, /trainer.controlVariates: .*declares that a command trainer takes/],
    ['privacy', { name: 'SCAFFOLD' }, { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } }, /privacy and strategy SCAFFOLD cannot be combined/],
    ['a robust rule', { name: 'SCAFFOLD', robust: { rule: 'Median' } }, {}, /spec.strategy.robust: .*SCAFFOLD and strategy.robust cannot be combined/],
    ['a norm bound', { name: 'SCAFFOLD', robust: { normBound: 1 } }, {}, /SCAFFOLD and strategy.robust cannot be combined/],
    ['its settings under another strategy', { name: 'FedAvg', scaffold: { serverLearningRate: 1 } }, {}, /strategy.scaffold is only for strategy.name SCAFFOLD/],
    ['a server learning rate of zero', { name: 'SCAFFOLD', scaffold: { serverLearningRate: 0 } }, {}, /serverLearningRate: .*must be > 0/],
    ['compressed uploads', { name: 'SCAFFOLD' }, { compression: { upload: 'Int8' } }, /spec.compression: .*compression and strategy SCAFFOLD cannot be combined yet/],
    ['compressed downloads', { name: 'SCAFFOLD' }, { compression: { download: 'FP16' } }, /compression and strategy SCAFFOLD cannot be combined yet/],
    ['secure aggregation', { name: 'SCAFFOLD' }, { secureAggregation: { threshold: 2 } }, /spec.secureAggregation: .*secureAggregation and strategy SCAFFOLD cannot be combined yet/],
  ])('refuses %s', (_what, strategy, spec, message) => {
    expect(errors(job(strategy, spec)).join('\n')).toMatch(message);
  });
});

describe('secure aggregation and compression', () => {
  it('are refused together: a masked update is uniform words no encoding shrinks', () => {
    expect(errors(job({ name: 'FedAvg' }, { secureAggregation: { threshold: 2 }, compression: { upload: 'Int8' } })).join('\n')).toMatch(
      /spec.compression: .*compression and secureAggregation cannot be combined/,
    );
    expect(errors(job({ name: 'FedAvg' }, { secureAggregation: { threshold: 2 }, compression: { download: 'None', upload: 'None' } }))).toEqual([]);
    expect(errors(job({ name: 'SCAFFOLD' }, { compression: { download: 'None', upload: 'None' } }))).toEqual([]);
  });
});

describe('spec.personalization', () => {
  it('takes a number of fine-tuning epochs, and a learning rate of its own', () => {
    expect(errors(job({ name: 'FedAvg' }, { personalization: { localEpochs: 3 } }))).toEqual([]);
    expect(errors(job({ name: 'SCAFFOLD' }, { personalization: { localEpochs: 3, learningRate: 0.05 } }))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no epochs', {}, /localEpochs: .*Required/i],
    ['zero epochs', { localEpochs: 0 }, /localEpochs: .*must be >= 1/],
    ['a learning rate of zero', { localEpochs: 1, learningRate: 0 }, /learningRate: .*must be > 0/],
  ])('refuses %s', (_what, personalization, message) => {
    expect(errors(job({ name: 'FedAvg' }, { personalization })).join('\n')).toMatch(message);
  });
});

describe('examples/heart-disease/federatedjob-scaffold.yaml', () => {
  it('is a valid SCAFFOLD job with personalisation', async () => {
    const job = await loadFederatedJob(path.join(packageRoot, 'examples/heart-disease/federatedjob-scaffold.yaml'));
    expect(job.spec.strategy).toMatchObject({ name: 'SCAFFOLD', scaffold: { serverLearningRate: 1 } });
    expect(job.spec.personalization).toEqual({ localEpochs: 3 });
  });
});

describe('trainer.controlVariates', () => {
  it('cannot change once the job exists, as the rest of the trainer', () => {
    const old = job({ name: 'SCAFFOLD' }, { trainer: { command: ['python', 'train.py'], image: 'r.example/t:1', controlVariates: true } });
    const next = structuredClone(old);
    next.spec.trainer.controlVariates = false;
    expect(validator.check(next, old).map((e) => `${e.field}: ${e.message}`).join('\n')).toMatch(/trainer.controlVariates cannot change once the job exists/);
  });
});
