/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
import { describe, expect, it } from '@jest/globals';
import { readCrd } from './crds.js';
import { SchemaValidator } from './validate.js';

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);
const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };

function job(compression: Record<string, unknown> | undefined, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c', 'd', 'e'] }, rounds: 3, minSites: 4, trainer: { builtin: { model: 'LogisticRegression', dataset } }, ...(compression ? { compression } : {}), ...spec },
  };
}
const errors = (j: any, old?: any) => validator.check(j, old).map((e) => `${e.field}: ${e.message}`);

describe('spec.compression', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['FP16 both ways', { download: 'FP16', upload: 'FP16' }, {}],
    ['Int8 uploads alone', { upload: 'Int8' }, {}],
    ['top-k uploads with Int8 downloads', { download: 'Int8', upload: 'TopK', topKFraction: 0.1 }, {}],
    ['top-k uploads under central DP', { upload: 'TopK', topKFraction: 0.1 }, { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } }],
    ['top-k uploads under local DP', { upload: 'TopK', topKFraction: 0.1 }, { privacy: { mode: 'Local', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } }],
    ['Int8 uploads under a median', { upload: 'Int8' }, { strategy: { name: 'FedAvg', robust: { rule: 'Median' } } }],
    ['top-k uploads under Krum', { upload: 'TopK', topKFraction: 0.2 }, { minSites: 5, strategy: { name: 'FedAvg', robust: { rule: 'Krum', hostileSites: 1 } } }],
  ])('takes %s', (_what, compression, spec) => {
    expect(errors(job(compression, spec))).toEqual([]);
  });

  it('defaults both directions to None', () => {
    const j = job({});
    expect(errors(j)).toEqual([]);
    expect(j.spec.compression).toEqual({ download: 'None', upload: 'None' });
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['top-k downloads', { download: 'TopK', topKFraction: 0.1 }, {}, /compression.download: .*top-k would zero most of it/],
    ['top-k without its fraction', { upload: 'TopK' }, {}, /topKFraction is for upload TopK, and TopK needs it/],
    ['a fraction beside Int8', { upload: 'Int8', topKFraction: 0.1 }, {}, /topKFraction is for upload TopK/],
    ['a zero fraction', { upload: 'TopK', topKFraction: 0 }, {}, /topKFraction: .*must be > 0/],
    ['a fraction over one half', { upload: 'TopK', topKFraction: 0.6 }, {}, /topKFraction: .*must be <= 0.5/],
    ['an unknown encoding', { upload: 'Int4' }, {}, /upload: .*None.*FP16.*Int8.*TopK/],
    ['top-k under a median', { upload: 'TopK', topKFraction: 0.1 }, { strategy: { name: 'FedAvg', robust: { rule: 'Median' } } }, /spec.compression.upload: .*cannot be combined with rule Median or TrimmedMean/],
    [
      'top-k under a trimmed mean',
      { upload: 'TopK', topKFraction: 0.1 },
      { strategy: { name: 'FedAvg', robust: { rule: 'TrimmedMean', trimFraction: 0.2 } } },
      /cannot be combined with rule Median or TrimmedMean/,
    ],
  ])('refuses %s', (_what, compression, spec, message) => {
    expect(errors(job(compression, spec)).join('\n')).toMatch(message);
  });

  it('cannot change once the job exists', () => {
    const old = job({ upload: 'TopK', topKFraction: 0.1 });
    const next = structuredClone(old);
    next.spec.compression.topKFraction = 0.2;
    expect(errors(next, old).join('\n')).toMatch(/compression cannot change once the job exists/);
    const added = job({ upload: 'FP16' });
    expect(errors(added, job(undefined)).join('\n')).toMatch(/compression cannot change once the job exists/);
  });
});
