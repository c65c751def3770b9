/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
import { describe, expect, it } from '@jest/globals';
import { readCrd } from './crds.js';
import { SchemaValidator } from './validate.js';

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);
const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };
const sites = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

function job(secureAggregation: Record<string, unknown> | undefined, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'default' },
    spec: {
      sites: { names: sites },
      rounds: 3,
      minSites: 5,
      trainer: { builtin: { model: 'LogisticRegression', dataset } },
      ...(secureAggregation ? { secureAggregation } : {}),
      ...spec,
    },
  };
}
const errors = (j: any, old?: any) => validator.check(j, old).map((e) => `${e.field}: ${e.message}`);

describe('spec.secureAggregation', () => {
  it('takes a threshold alone and defaults the clipping range and the stage timeout', () => {
    const j = job({ threshold: 4 });
    expect(errors(j)).toEqual([]);
    expect(j.spec.secureAggregation).toEqual({ threshold: 4, clippingRange: 1, stageTimeoutSeconds: 30 });
    expect(errors(job({ threshold: 3, neighbours: 4, clippingRange: 0.5 }))).toEqual([]);
    expect(errors(job({ threshold: 3, neighbours: 4 }, { sitesPerRound: 5, minSites: 3 }))).toEqual([]);
    const local = { mode: 'Local', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } };
    expect(errors(job({ threshold: 4 }, { privacy: local }))).toEqual([]);
    expect(errors(job({ threshold: 4 }, { privacy: { ...local, mode: 'Distributed' } }))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['no threshold', { clippingRange: 1 }, {}, /spec.secureAggregation.threshold: .*[Rr]equired/],
    ['a threshold of 1', { threshold: 1 }, {}, /spec.secureAggregation.threshold: .*must be >= 2/],
    ['a threshold as large as the sites', { threshold: 7 }, { minSites: 7 }, /threshold must be below the number of sites/],
    ['a threshold that is no majority of the other sites', { threshold: 3 }, { minSites: 3 }, /must be a majority of each site's neighbours/],
    ['a threshold that is no majority of a round', { threshold: 2 }, { minSites: 2, sitesPerRound: 5 }, /must be a majority of each site's neighbours/],
    ['a threshold that is no majority of the neighbours', { threshold: 2, neighbours: 4 }, {}, /must be a majority of neighbours/],
    ['a threshold above the neighbours', { threshold: 5, neighbours: 4 }, {}, /must be a majority of neighbours .* and at most neighbours/],
    ['an odd number of neighbours short of the round', { threshold: 3, neighbours: 5 }, {}, /neighbours must be even/],
    ['a quorum below the threshold', { threshold: 4 }, { minSites: 3 }, /minSites must be at least secureAggregation.threshold/],
    ['sitesPerRound no larger than the threshold', { threshold: 4 }, { sitesPerRound: 4, minSites: 4 }, /sitesPerRound must exceed secureAggregation.threshold/],
    ['a robust rule', { threshold: 4 }, { strategy: { name: 'FedAvg', robust: { rule: 'Median' } } }, /a median, trimmed mean or Krum needs each site's update/],
    ['central DP', { threshold: 4 }, { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } }, /cannot be combined with privacy mode Central/],
    ['federated statistics', { threshold: 4 }, { trainer: { builtin: { model: 'LogisticRegression', dataset: { ...dataset, standardize: 'Federated' } } } }, /sends each site's sums in the clear/],
    ['distributed DP without it', { threshold: 4 }, { secureAggregation: undefined, privacy: { mode: 'Distributed', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } }, /privacy mode Distributed needs secureAggregation/],
    ['a round too short for its stages', { threshold: 4, stageTimeoutSeconds: 20 }, { roundDeadlineSeconds: 60 }, /roundDeadlineSeconds must exceed 3 × secureAggregation.stageTimeoutSeconds/],
    ['a zero clipping range', { threshold: 4, clippingRange: 0 }, {}, /spec.secureAggregation.clippingRange: .*must be > 0/],
  ])('refuses %s', (_what, secagg, spec, message) => {
    const j = job(secagg, spec);
    for (const k of Object.keys(j.spec)) if (j.spec[k] === undefined) delete j.spec[k];
    expect(errors(j).join('\n')).toMatch(message);
  });

  it('takes an odd number of neighbours that makes every other site one', () => {
    expect(errors(job({ threshold: 4, neighbours: 7 }))).toEqual([]);
  });

  it('cannot change, be added or be removed once the job exists', () => {
    const old = job({ threshold: 4 });
    const next = structuredClone(old);
    next.spec.secureAggregation.threshold = 5;
    expect(errors(next, old).join('\n')).toMatch(/secureAggregation cannot change once the job exists/);
    const plain = job(undefined);
    expect(errors(plain)).toEqual([]);
    expect(errors(old, plain).join('\n')).toMatch(/secureAggregation cannot change/);
    expect(errors(plain, old).join('\n')).toMatch(/secureAggregation cannot change/);
  });
});
