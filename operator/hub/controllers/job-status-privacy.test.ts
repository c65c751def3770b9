import { describe, expect, test } from '@jest/globals';
import { parseFederatedJob, type FederatedJob } from '../../api/federatedjob.js';
import type { AggregatorReport } from './aggregator-report.js';
import { jobStatus, type JobObservation } from './job-status.js';

const job = (status?: FederatedJob['status']): FederatedJob => {
  const parsed = parseFederatedJob({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'research' },
    spec: {
      sites: { names: ['a', 'b'] },
      rounds: 20,
      privacy: { mode: 'Central', delta: 1e-3, noiseMultiplier: 1, targetEpsilon: 8, clipping: { l2Norm: 1 } },
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' } } },
    },
  });
  return { ...parsed, metadata: { ...parsed.metadata, uid: 'u1', generation: 1 }, ...(status ? { status } : {}) };
};

const report: AggregatorReport = {
  namespace: 'research',
  job: 'heart',
  phase: 'Training',
  round: 2,
  rounds: 20,
  participants: 2,
  loss: 0.6,
  accuracy: 0.7,
  sites: {},
  privacy: { mode: 'Central', epsilon: 5.42, delta: 1e-3, budget: 8, noiseMultiplier: 1, sampling: 'Fixed (no amplification claimed)' },
};

const observe = (j: FederatedJob, over: Partial<JobObservation> = {}): JobObservation => ({
  job: j,
  now: new Date('2024-05-01T10:00:00Z'),
  sites: ['a', 'b'],
  endpoint: 'heart-aggregator.research.svc:8443',
  aggregator: { available: true },
  siteReports: new Map(),
  checkpointClaim: 'heart-checkpoints',
  ...over,
});

describe('the FederatedJob status under differential privacy', () => {
  test('mirrors the epsilon the aggregator reports, and keeps it when the aggregator is out of reach', () => {
    const first = jobStatus(observe(job(), { report }));
    expect(first.privacy).toEqual({ epsilon: 5.42, delta: 1e-3, budget: 8 });
    const later = jobStatus(observe(job(first)));
    expect(later.privacy).toEqual({ epsilon: 5.42, delta: 1e-3, budget: 8 });
  });
});
