/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
/**
 * spec.compression through a real API server: it takes the CRD's CEL rules (within their cost
 * budget) and refuses the combinations that do not compose, in the same words as the local
 * validator (what flotilla simulate uses).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { kubeRequest } from '../../operator/kube/request.js';
import { resolveBinDir, type ControlPlane } from '../support/envtest/controlplane.js';
import { jobsPath, refusedAsInvalid, startCrdCluster, localErrors } from './crd-fixture.js';

jest.setTimeout(180_000);

const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };

function job(name: string, compression: Record<string, unknown>, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c', 'd', 'e'] }, rounds: 3, minSites: 5, trainer: { builtin: { model: 'LogisticRegression', dataset } }, compression, ...spec },
  };
}


describe('spec.compression in a real API server', () => {
  let cluster: ControlPlane;
  let kc: k8s.KubeConfig;
  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    ({ cluster, kc } = await startCrdCluster('compression-crds'));
  });
  afterAll(() => cluster?.stop());

  test('accepts Int8 downloads and top-k uploads under Krum, and keeps them as given', async () => {
    const compression = { download: 'Int8', upload: 'TopK', topKFraction: 0.1 };
    const stored = await kubeRequest<any>(kc, {
      method: 'POST',
      path: jobsPath('default'),
      body: job('topk', compression, { strategy: { name: 'FedAvg', robust: { rule: 'Krum', hostileSites: 1 } } }),
    });
    expect(stored.spec.compression).toEqual(compression);
  });

  test.each<[string, Record<string, unknown>, Record<string, unknown>, string]>([
    ['top-k downloads', { download: 'TopK', topKFraction: 0.1 }, {}, 'top-k would zero most of it'],
    ['top-k without its fraction', { upload: 'TopK' }, {}, 'TopK needs it'],
    ['top-k under a median', { upload: 'TopK', topKFraction: 0.1 }, { strategy: { name: 'FedAvg', robust: { rule: 'Median' } } }, 'cannot be combined with rule Median or TrimmedMean'],
  ])('refuses %s, in the local validator’s words', async (_what, compression, spec, message) => {
    const error = await refusedAsInvalid(kc, { method: 'POST', path: jobsPath('default'), body: job('bad', compression, spec) });
    expect(error).toContain(message);
    const local = localErrors(job('bad', compression, spec));
    expect(local.length).toBeGreaterThan(0);
    for (const line of local) expect(error).toContain(line);
  });
});
