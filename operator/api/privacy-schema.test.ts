/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
import { describe, expect, it } from '@jest/globals';
import { readCrd } from './crds.js';
import { SchemaValidator } from './validate.js';

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);
const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };
const privacy = { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } };

function job(p: Record<string, unknown> | undefined, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c'] }, rounds: 3, trainer: { builtin: { model: 'LogisticRegression', dataset } }, ...(p ? { privacy: p } : {}), ...spec },
  };
}
const errors = (j: any, old?: any) => validator.check(j, old).map((e) => `${e.field}: ${e.message}`);

describe('spec.privacy', () => {
  it('takes a complete setting and defaults the sampling to Fixed', () => {
    const j = job({ ...privacy, targetEpsilon: 4, clipping: { l2Norm: 0.5, adaptive: { countStddev: 1 } } });
    expect(errors(j)).toEqual([]);
    expect(j.spec.privacy.sampling).toEqual({ mode: 'Fixed' });
    expect(j.spec.privacy.clipping.adaptive).toEqual({ countStddev: 1, targetQuantile: 0.5, learningRate: 0.2 });
    expect(errors(job({ ...privacy, sampling: { mode: 'Poisson', rate: 0.5 } }))).toEqual([]);
    expect(errors(job({ ...privacy, mode: 'Local' }))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['neither noise nor budget', { noiseMultiplier: undefined }, {}, /privacy needs noiseMultiplier, targetEpsilon or both/],
    ['a zero noise multiplier', { noiseMultiplier: 0 }, {}, /spec.privacy.noiseMultiplier: .*must be > 0/],
    ['a delta of 1', { delta: 1 }, {}, /spec.privacy.delta: .*must be < 1/],
    ['no clip norm', { clipping: {} }, {}, /spec.privacy.clipping.l2Norm: .*[Rr]equired/],
    ['adaptive clipping with local noise', { mode: 'Local', clipping: { l2Norm: 1, adaptive: { countStddev: 0.1 } } }, {}, /adaptive clipping needs mode Central/],
    ['Poisson without a rate', { sampling: { mode: 'Poisson' } }, {}, /sampling.rate is the Poisson sampling rate/],
    ['a rate without Poisson', { sampling: { mode: 'Fixed', rate: 0.5 } }, {}, /sampling.rate is the Poisson sampling rate/],
    ['Poisson with local noise', { mode: 'Local', sampling: { mode: 'Poisson', rate: 0.5 } }, {}, /with mode Local the aggregator sees it/],
    ['Poisson beside sitesPerRound', { sampling: { mode: 'Poisson', rate: 0.5 } }, { sitesPerRound: 2 }, /leave sitesPerRound unset/],
    ['federated statistics', {}, { trainer: { builtin: { model: 'LogisticRegression', dataset: { ...dataset, standardize: 'Federated' } } } }, /outside the privacy guarantee/],
    ['a count noise that leaves the updates nothing', { clipping: { l2Norm: 1, adaptive: { countStddev: 0.5 } } }, {}, /must be below 2 × clipping.adaptive.countStddev/],
    ['an unknown mode', { mode: 'Global' }, {}, /spec.privacy.mode: .*Central.*Local.*Distributed/],
  ])('refuses %s', (_what, edit, spec, message) => {
    const p: Record<string, unknown> = { ...privacy, ...edit };
    for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
    expect(errors(job(p, spec)).join('\n')).toMatch(message);
  });

  it('cannot change once the job exists', () => {
    const old = job(privacy);
    expect(errors(old)).toEqual([]);
    const next = structuredClone(old);
    next.spec.privacy.noiseMultiplier = 0.5;
    expect(errors(next, old).join('\n')).toMatch(/spec.privacy: .*privacy cannot change once the job exists/);
    const added = job(undefined);
    expect(errors(added)).toEqual([]);
    const withPrivacy = structuredClone(added);
    withPrivacy.spec.privacy = privacy;
    expect(errors(withPrivacy, added).join('\n')).toMatch(/privacy cannot change/);
  });
});
