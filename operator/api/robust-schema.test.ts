/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
import { describe, expect, it } from '@jest/globals';
import { readCrd } from './crds.js';
import { SchemaValidator } from './validate.js';

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);
const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };
const sites = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

function job(robust: Record<string, unknown>, spec: Record<string, unknown> = {}, name = 'FedAvg'): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'default' },
    spec: { sites: { names: sites }, rounds: 3, minSites: 5, trainer: { builtin: { model: 'LogisticRegression', dataset } }, strategy: { name, robust }, ...spec },
  };
}
const errors = (j: any, old?: any) => validator.check(j, old).map((e) => `${e.field}: ${e.message}`);

describe('spec.strategy.robust', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['the median', { rule: 'Median' }, 'FedAvg'],
    ['a trimmed mean', { rule: 'TrimmedMean', trimFraction: 0.2 }, 'FedAvg'],
    ['Krum with f = 1 of minSites 5', { rule: 'Krum', hostileSites: 1 }, 'FedAvg'],
    ['MultiKrum with m = 4 = minSites - f', { rule: 'MultiKrum', hostileSites: 1, selectedUpdates: 4 }, 'FedAvg'],
    ['a norm bound alone', { normBound: 2.5 }, 'FedAvg'],
    ['a norm bound under a median with FedAdam', { rule: 'Median', normBound: 1 }, 'FedAdam'],
  ])('takes %s', (_what, robust, name) => {
    expect(errors(job(robust, {}, name))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['an empty setting', {}, {}, /strategy.robust needs a rule, a normBound or both/],
    ['a trimmed mean without its fraction', { rule: 'TrimmedMean' }, {}, /rule TrimmedMean needs trimFraction/],
    ['a trim fraction of one half', { rule: 'TrimmedMean', trimFraction: 0.5 }, {}, /trimFraction: .*must be < 0.5/],
    ['a trim fraction beside the median', { rule: 'Median', trimFraction: 0.1 }, {}, /trimFraction is only for rule TrimmedMean/],
    ['Krum without f', { rule: 'Krum' }, {}, /hostileSites \(f\) is for rules Krum and MultiKrum, and they need it/],
    ['f beside the median', { rule: 'Median', hostileSites: 1 }, {}, /hostileSites \(f\) is for rules Krum and MultiKrum/],
    ['MultiKrum without m', { rule: 'MultiKrum', hostileSites: 1 }, {}, /selectedUpdates \(m\) is for rule MultiKrum, and it needs it/],
    ['Krum with minSites = 2f + 2', { rule: 'Krum', hostileSites: 1 }, { minSites: 4 }, /spec.minSites: .*raise minSites above 2·hostileSites \+ 2/],
    ['MultiKrum selecting more than minSites - f', { rule: 'MultiKrum', hostileSites: 1, selectedUpdates: 5 }, {}, /selectedUpdates: .*at most minSites - hostileSites/],
    ['a zero norm bound', { normBound: 0 }, {}, /normBound: .*must be > 0/],
    ['an unknown rule', { rule: 'GeometricMedian' }, {}, /rule: .*Median.*TrimmedMean.*Krum.*MultiKrum/],
    [
      'privacy beside it',
      { rule: 'Median' },
      { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } },
      /spec.strategy.robust: .*privacy and strategy.robust cannot be combined/,
    ],
  ])('refuses %s', (_what, robust, spec, message) => {
    expect(errors(job(robust, spec)).join('\n')).toMatch(message);
  });

  it('cannot change once the job exists, as the rest of the strategy', () => {
    const old = job({ rule: 'Median' });
    const next = structuredClone(old);
    next.spec.strategy.robust = { rule: 'TrimmedMean', trimFraction: 0.2 };
    expect(errors(next, old).join('\n')).toMatch(/strategy cannot change once the job exists/);
  });
});
