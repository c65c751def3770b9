/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
/**
 * SCAFFOLD and personalisation through a real API server: it takes the CRD's CEL rules (within their
 * cost budget) and refuses the combinations SCAFFOLD cannot honour, in the local validator's words.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { kubeRequest } from '../../operator/kube/request.js';
import { resolveBinDir, type ControlPlane } from '../support/envtest/controlplane.js';
import { jobsPath, refusedAsInvalid, startCrdCluster, localErrors } from './crd-fixture.js';

jest.setTimeout(180_000);

const builtin = { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }], standardize: 'Local' } };

function job(name: string, strategy: Record<string, unknown>, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'default' },
    spec: { sites: { names: ['a', 'b', 'c'] }, rounds: 3, minSites: 2, trainer: { builtin }, strategy, ...spec },
  };
}


describe('SCAFFOLD and personalisation in a real API server', () => {
  let cluster: ControlPlane;
  let kc: k8s.KubeConfig;
  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    ({ cluster, kc } = await startCrdCluster('non-iid-crds'));
  });
  afterAll(() => cluster?.stop());

  test('accepts SCAFFOLD with its default server learning rate, and personalisation', async () => {
    const stored = await kubeRequest<any>(kc, { method: 'POST', path: jobsPath('default'), body: job('scaffold', { name: 'SCAFFOLD', scaffold: {} }, { personalization: { localEpochs: 3 } }) });
    expect(stored.spec.strategy.scaffold).toEqual({ serverLearningRate: 1 });
    expect(stored.spec.personalization).toEqual({ localEpochs: 3 });
  });

  test('accepts SCAFFOLD with a command trainer that declares control variates', async () => {
    const trainer = { command: ['python', 'train.py'], image: 'r.example/t:1', controlVariates: true };
    const stored = await kubeRequest<any>(kc, { method: 'POST', path: jobsPath('default'), body: job('scaffold-byo', { name: 'SCAFFOLD' }, { trainer }) });
    expect(stored.spec.trainer.controlVariates).toBe(true);
  });

  test.each<[string, Record<string, unknown>, Record<string, unknown>, string]>([
    ['a command trainer', { name: 'SCAFFOLD' }, { trainer: { command: ['python', 'train.py'], image: 'r.example/t:1' } }, 'SCAFFOLD needs the built-in trainer or a command trainer that declares'],
    ['privacy', { name: 'SCAFFOLD' }, { privacy: { mode: 'Central', delta: 1e-5, noiseMultiplier: 1, clipping: { l2Norm: 1 } } }, 'privacy and strategy SCAFFOLD cannot be combined'],
    ['a robust rule', { name: 'SCAFFOLD', robust: { rule: 'Median' } }, {}, 'SCAFFOLD and strategy.robust cannot be combined'],
    ['its settings under FedAvg', { name: 'FedAvg', scaffold: { serverLearningRate: 1 } }, {}, 'strategy.scaffold is only for strategy.name SCAFFOLD'],
  ])('refuses SCAFFOLD with %s, in the local validator’s words', async (_what, strategy, spec, message) => {
    const error = await refusedAsInvalid(kc, { method: 'POST', path: jobsPath('default'), body: job('bad', strategy, spec) });
    expect(error).toContain(message);
    const local = localErrors(job('bad', strategy, spec));
    expect(local.length).toBeGreaterThan(0);
    for (const line of local) expect(error).toContain(line);
  });
});
