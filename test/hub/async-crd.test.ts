/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
/**
 * spec.asynchronous through a real API server: it takes the CRD's CEL rules (within their cost
 * budget), fills in the defaults, and refuses what does not compose, in the same words as the local
 * validator (what flotilla simulate uses).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { kubeRequest } from '../../operator/kube/request.js';
import { resolveBinDir, type ControlPlane } from '../support/envtest/controlplane.js';
import { jobsPath, refusedAsInvalid, startCrdCluster, localErrors } from './crd-fixture.js';

jest.setTimeout(180_000);

const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };

function job(name: string, asynchronous: Record<string, unknown>, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c', 'd'] }, rounds: 3, minSites: 2, trainer: { builtin: { model: 'LogisticRegression', dataset } }, asynchronous, ...spec },
  };
}


describe('spec.asynchronous in a real API server', () => {
  let cluster: ControlPlane;
  let kc: k8s.KubeConfig;
  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    ({ cluster, kc } = await startCrdCluster('async-crds'));
  });
  afterAll(() => cluster?.stop());

  test('accepts a buffer of 2 under FedAdam, with the defaults filled in', async () => {
    const stored = await kubeRequest<any>(kc, { method: 'POST', path: jobsPath('default'), body: job('fedbuff', { bufferSize: 2 }, { strategy: { name: 'FedAdam' } }) });
    expect(stored.spec.asynchronous).toEqual({ bufferSize: 2, maxStaleness: 4, staleness: 'Polynomial', serverLearningRate: 1 });
  });

  test.each<[string, Record<string, unknown>, Record<string, unknown>, string]>([
    ['a buffer larger than the sites', { bufferSize: 5 }, {}, 'a larger buffer never fills'],
    ['minSites above the buffer', { bufferSize: 2 }, { minSites: 3 }, 'minSites must be at most asynchronous.bufferSize'],
    ['secure aggregation', { bufferSize: 2 }, { secureAggregation: { threshold: 2 } }, 'asynchronous and secureAggregation cannot be combined'],
    ['SCAFFOLD', { bufferSize: 2 }, { strategy: { name: 'SCAFFOLD' } }, 'asynchronous and strategy SCAFFOLD cannot be combined'],
    [
      'central privacy',
      { bufferSize: 2 },
      { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } },
      'asynchronous and privacy cannot be combined',
    ],
  ])('refuses %s, in the local validator’s words', async (_what, asynchronous, spec, message) => {
    const error = await refusedAsInvalid(kc, { method: 'POST', path: jobsPath('default'), body: job('bad', asynchronous, spec) });
    expect(error).toContain(message);
    const local = localErrors(job('bad', asynchronous, spec));
    expect(local.length).toBeGreaterThan(0);
    for (const line of local) expect(error).toContain(line);
  });
});
