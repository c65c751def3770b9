/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
/**
 * spec.strategy.robust through a real API server: it takes the CRD's CEL rules (within their cost
 * budget) and refuses what a rule could not honour, in the same words as the local validator (what
 * flotilla simulate uses).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { kubeRequest } from '../../operator/kube/request.js';
import { resolveBinDir, type ControlPlane } from '../support/envtest/controlplane.js';
import { jobsPath, refusedAsInvalid, startCrdCluster, localErrors } from './crd-fixture.js';

jest.setTimeout(180_000);

const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };

function job(name: string, robust: Record<string, unknown>, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'default' },
    spec: {
      sites: { names: ['a', 'b', 'c', 'd', 'e'] },
      rounds: 3,
      minSites: 5,
      trainer: { builtin: { model: 'LogisticRegression', dataset } },
      strategy: { name: 'FedAdam', robust },
      ...spec,
    },
  };
}


describe('spec.strategy.robust in a real API server', () => {
  let cluster: ControlPlane;
  let kc: k8s.KubeConfig;
  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    ({ cluster, kc } = await startCrdCluster('robust-crds'));
  });
  afterAll(() => cluster?.stop());

  test('accepts a MultiKrum job with a norm bound under FedAdam', async () => {
    const robust = { rule: 'MultiKrum', hostileSites: 1, selectedUpdates: 3, normBound: 2 };
    const stored = await kubeRequest<any>(kc, { method: 'POST', path: jobsPath('default'), body: job('krum', robust) });
    expect(stored.spec.strategy.robust).toEqual(robust);
  });

  test.each<[string, Record<string, unknown>, Record<string, unknown>, string]>([
    ['Krum with minSites = 2f + 2', { rule: 'Krum', hostileSites: 1 }, { minSites: 4 }, 'raise minSites above 2·hostileSites + 2'],
    ['a trimmed mean without its fraction', { rule: 'TrimmedMean' }, {}, 'rule TrimmedMean needs trimFraction'],
    ['MultiKrum selecting more than minSites - f', { rule: 'MultiKrum', hostileSites: 1, selectedUpdates: 5 }, {}, 'at most minSites - hostileSites'],
    [
      'privacy beside it',
      { rule: 'Median' },
      { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } },
      'privacy and strategy.robust cannot be combined',
    ],
  ])('refuses %s, in the local validator’s words', async (_what, robust, spec, message) => {
    const error = await refusedAsInvalid(kc, { method: 'POST', path: jobsPath('default'), body: job('bad', robust, spec) });
    expect(error).toContain(message);
    const local = localErrors(job('bad', robust, spec));
    expect(local.length).toBeGreaterThan(0);
    for (const line of local) expect(error).toContain(line);
  });
});
