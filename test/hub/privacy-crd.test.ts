/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
/**
 * spec.privacy through a real API server: its CEL rules refuse what the accountant could not honour,
 * in the same words as the local validator (what flotilla simulate uses), and it is fixed once the
 * job exists.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { kubeRequest } from '../../operator/kube/request.js';
import { resolveBinDir, type ControlPlane } from '../support/envtest/controlplane.js';
import { jobsPath, refusedAsInvalid, startCrdCluster, localErrors } from './crd-fixture.js';

jest.setTimeout(180_000);

const dataset = { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' };
const privacy = { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } };

function job(name: string, p: Record<string, unknown>, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c'] }, rounds: 3, trainer: { builtin: { model: 'LogisticRegression', dataset } }, privacy: p, ...spec },
  };
}


describe('spec.privacy in a real API server', () => {
  let cluster: ControlPlane;
  let kc: k8s.KubeConfig;
  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    ({ cluster, kc } = await startCrdCluster('privacy-crds'));
  });
  afterAll(() => cluster?.stop());

  test('accepts a private job and applies the defaults', async () => {
    const stored = await kubeRequest<any>(kc, {
      method: 'POST',
      path: jobsPath('default'),
      body: job('private', { ...privacy, targetEpsilon: 3, clipping: { l2Norm: 0.5, adaptive: { countStddev: 1 } } }),
    });
    expect(stored.spec.privacy).toEqual({
      mode: 'Central',
      delta: 1e-5,
      noiseMultiplier: 1,
      targetEpsilon: 3,
      clipping: { l2Norm: 0.5, adaptive: { countStddev: 1, targetQuantile: 0.5, learningRate: 0.2 } },
      sampling: { mode: 'Fixed' },
    });
  });

  test.each<[string, Record<string, unknown>, Record<string, unknown>, string]>([
    ['neither noise nor budget', { mode: 'Central', delta: 1e-5, clipping: { l2Norm: 1 } }, {}, 'privacy needs noiseMultiplier, targetEpsilon or both'],
    ['adaptive clipping with local noise', { ...privacy, mode: 'Local', clipping: { l2Norm: 1, adaptive: { countStddev: 1 } } }, {}, 'adaptive clipping needs mode Central'],
    ['a count noise that leaves the updates nothing', { ...privacy, clipping: { l2Norm: 1, adaptive: { countStddev: 0.5 } } }, {}, 'must be below 2 × clipping.adaptive.countStddev'],
    ['Poisson without a rate', { ...privacy, sampling: { mode: 'Poisson' } }, {}, 'privacy.sampling.rate is the Poisson sampling rate'],
    ['Poisson with local noise', { ...privacy, mode: 'Local', sampling: { mode: 'Poisson', rate: 0.5 } }, {}, 'with mode Local the aggregator sees it'],
    ['Poisson beside sitesPerRound', { ...privacy, sampling: { mode: 'Poisson', rate: 0.5 } }, { sitesPerRound: 2 }, 'leave sitesPerRound unset'],
    [
      'federated statistics',
      privacy,
      { trainer: { builtin: { model: 'LogisticRegression', dataset: { ...dataset, standardize: 'Federated' } } } },
      'the Federated statistics phase sends each site\'s sums un-noised, outside the privacy guarantee',
    ],
  ])('refuses %s, in the local validator’s words', async (_what, p, spec, message) => {
    const error = await refusedAsInvalid(kc, { method: 'POST', path: jobsPath('default'), body: job('bad', p, spec) });
    expect(error).toContain(message);
    const local = localErrors(job('bad', p, spec));
    expect(local.length).toBeGreaterThan(0);
    for (const line of local) expect(error).toContain(line);
  });

  test('refuses a change to privacy once the job exists', async () => {
    const stored = await kubeRequest<any>(kc, { method: 'POST', path: jobsPath('default'), body: job('fixed', privacy) });
    const edited = structuredClone(stored);
    edited.spec.privacy.noiseMultiplier = 0.5;
    const error = await refusedAsInvalid(kc, { method: 'PUT', path: jobsPath('default', 'fixed'), body: edited });
    expect(error).toContain('privacy cannot change once the job exists');
  });
});
