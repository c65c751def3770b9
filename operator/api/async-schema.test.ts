/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
import { describe, expect, it } from '@jest/globals';
import { readCrd } from './crds.js';
import { SchemaValidator } from './validate.js';

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);
const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };

function job(asynchronous: Record<string, unknown>, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c', 'd'] }, rounds: 3, trainer: { builtin: { model: 'LogisticRegression', dataset } }, asynchronous, ...spec },
  };
}
const errors = (j: any, old?: any) => validator.check(j, old).map((e) => `${e.field}: ${e.message}`);

describe('spec.asynchronous', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['a buffer of 2 of 4 sites', { bufferSize: 2 }, {}],
    ['every setting given', { bufferSize: 3, maxStaleness: 10, staleness: 'Polynomial', stalenessExponent: 1, serverLearningRate: 0.5 }, { minSites: 3 }],
    ['constant weights', { bufferSize: 4, staleness: 'Constant' }, {}],
    ['a server optimiser', { bufferSize: 2 }, { strategy: { name: 'FedAdam' } }],
  ])('takes %s', (_what, asynchronous, spec) => {
    expect(errors(job(asynchronous, spec))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['no buffer size', {}, {}, /bufferSize/],
    ['a buffer larger than the sites', { bufferSize: 5 }, {}, /spec.asynchronous.bufferSize: .*a larger buffer never fills/],
    ['minSites above the buffer', { bufferSize: 2 }, { minSites: 3 }, /spec.minSites: .*at most asynchronous.bufferSize/],
    ['an exponent with constant weights', { bufferSize: 2, staleness: 'Constant', stalenessExponent: 1 }, {}, /stalenessExponent is for staleness Polynomial/],
    ['a zero server learning rate', { bufferSize: 2, serverLearningRate: 0 }, {}, /serverLearningRate: .*must be > 0/],
    ['a negative staleness bound', { bufferSize: 2, maxStaleness: -1 }, {}, /maxStaleness: .*must be >= 0/],
    ['sitesPerRound', { bufferSize: 2 }, { sitesPerRound: 2 }, /spec.sitesPerRound: .*asynchronous and sitesPerRound cannot be combined/],
    ['secure aggregation', { bufferSize: 2 }, { secureAggregation: { threshold: 2 } }, /spec.secureAggregation: .*asynchronous and secureAggregation cannot be combined/],
    ['a robust rule', { bufferSize: 2 }, { strategy: { name: 'FedAvg', robust: { rule: 'Median' } } }, /spec.strategy.robust: .*asynchronous and strategy.robust cannot be combined/],
    ['SCAFFOLD', { bufferSize: 2 }, { strategy: { name: 'SCAFFOLD' } }, /spec.strategy.name: .*asynchronous and strategy SCAFFOLD cannot be combined/],
    [
      'central privacy',
      { bufferSize: 2 },
      { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } },
      /spec.privacy: .*asynchronous and privacy cannot be combined: the privacy accountant/,
    ],
    ['compression', { bufferSize: 2 }, { compression: { upload: 'FP16' } }, /spec.compression: .*asynchronous and compression cannot be combined yet/],
  ])('refuses %s', (_what, asynchronous, spec, message) => {
    expect(errors(job(asynchronous, spec)).join('\n')).toMatch(message);
  });

  it('fills in the defaults: staleness at most 4, polynomial weights, a server step of 1', () => {
    const j = job({ bufferSize: 2 });
    expect(errors(j)).toEqual([]);
    expect(j.spec.asynchronous).toEqual({ bufferSize: 2, maxStaleness: 4, staleness: 'Polynomial', serverLearningRate: 1 });
  });

  it('cannot change once the job exists', () => {
    const old = job({ bufferSize: 2 });
    const next = structuredClone(old);
    next.spec.asynchronous.bufferSize = 3;
    expect(errors(next, old).join('\n')).toMatch(/asynchronous cannot change once the job exists/);
    delete next.spec.asynchronous;
    expect(errors(next, old).join('\n')).toMatch(/asynchronous cannot change once the job exists/);
  });
});
