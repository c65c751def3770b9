/**
 * Refusals as a real API server gives them: a quota (admission, 403), a ValidatingAdmissionPolicy
 * (admission, 422 without a field), the API's own validation (422 naming fields), and failures that
 * are not refusals at all.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

import { apply } from './apply.js';
import { describeRefusal, ObjectRefused, refusalIn, refusalOf, refusedAs } from './refusal.js';
import { refOf, type KubernetesObject } from './resources.js';
import { resolveBinDir } from '../../test/support/envtest/controlplane.js';
import { eventually } from '../../test/support/eventually.js';
import { startTestCluster, type TestCluster } from '../../test/support/test-cluster.js';
import { isTerminal } from './workqueue.js';

jest.setTimeout(60_000);

const ours = { fieldManager: 'flotilla-operator' };
const ns = 'refusals';

const configMap = (name: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns } });
const pod = (name: string, resources: object): KubernetesObject & { spec: object } => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: { containers: [{ name: 'main', image: 'ghcr.io/flotilla/flotilla:0.1.0', resources }] },
});

/** The error a write fails with. */
async function failure(obj: KubernetesObject): Promise<unknown> {
  return refusedAs(refOf(obj), () => apply(cluster.kc, obj, ours)).then(
    () => new Error('the write was accepted'),
    (err: unknown) => err,
  );
}

let cluster: TestCluster;

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  cluster = await startTestCluster('refusals');
  await cluster.controlPlane.kubectl(['create', 'namespace', ns]);
});
afterAll(() => cluster?.stop());

describe('a refused write', () => {
  test('by a ResourceQuota: names the object, quotes the server, and is worth retrying', async () => {
    const quota = { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-configmaps', namespace: ns }, spec: { hard: { configmaps: '0' } } };
    await cluster.controlPlane.kubectl(['apply', '-f', '-'], JSON.stringify(quota));
    // No kube-controller-manager here: write the usage its quota controller would.
    const usage = JSON.stringify({ status: { hard: { configmaps: '0' }, used: { configmaps: '0' } } });
    await cluster.controlPlane.kubectl(['patch', 'resourcequota', 'no-configmaps', '-n', ns, '--subresource=status', '--type=merge', '-p', usage]);
    const error = await failure(configMap('settings'));
    expect(error).toBeInstanceOf(ObjectRefused);
    expect(isTerminal(error)).toBe(false);
    const refusal = refusalIn(error)!;
    expect(refusal).toMatchObject({ kind: 'ConfigMap', namespace: ns, name: 'settings', code: 403, reason: 'Forbidden', invalid: false });
    expect(refusal.words).toBe(
      'configmaps "settings" is forbidden: exceeded quota: no-configmaps, requested: configmaps=1, used: configmaps=0, limited: configmaps=0',
    );
    expect((error as Error).message).toBe(`the API server refused ConfigMap refusals/settings: ${refusal.words}`);
    expect(describeRefusal(refusal, "the site's API server")).toMatch(/^the site's API server refused ConfigMap refusals\/settings: configmaps "settings" is forbidden/);

    await cluster.controlPlane.kubectl(['delete', 'resourcequota', 'no-configmaps', '-n', ns]);
    await eventually(() => apply(cluster.kc, configMap('settings'), ours).then(() => true), 10_000, 'the ConfigMap once the quota is gone');
  });

  test('by a ValidatingAdmissionPolicy: 422, but naming no field, so still worth retrying', async () => {
    const policy = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'approved-only' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }] },
        validations: [{ expression: "object.metadata.name != 'unapproved'", message: 'this ConfigMap needs approval' }],
      },
    };
    const binding = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'approved-only' },
      spec: { policyName: 'approved-only', validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
    };
    await cluster.controlPlane.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [policy, binding] }));
    let error: unknown;
    await eventually(async () => (error = await failure(configMap('unapproved'))) instanceof ObjectRefused, 20_000, 'the policy to be enforced');
    expect(isTerminal(error)).toBe(false);
    expect(refusalIn(error)).toMatchObject({
      kind: 'ConfigMap',
      name: 'unapproved',
      code: 422,
      reason: 'Invalid',
      invalid: false,
      words: expect.stringContaining("ValidatingAdmissionPolicy 'approved-only' with binding 'approved-only' denied request: this ConfigMap needs approval"),
    });
    await cluster.controlPlane.kubectl(['delete', 'validatingadmissionpolicybinding', 'approved-only']);
  });

  test('by validation of the object itself: terminal, since only another object can pass', async () => {
    const error = await failure(pod('greedy', { requests: { cpu: '2' }, limits: { cpu: '1' } }));
    expect(isTerminal(error)).toBe(true);
    expect(refusalIn(error)).toMatchObject({ kind: 'Pod', name: 'greedy', code: 422, reason: 'Invalid', invalid: true, words: expect.stringContaining('must be less than or equal to cpu limit') });
  });

  test('what is not a refusal stays the error it was', async () => {
    const elsewhere = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'no-such-namespace' } };
    const error = await failure(elsewhere);
    expect(error).not.toBeInstanceOf(ObjectRefused);
    expect(refusalOf(error, refOf(elsewhere))).toBeUndefined();
    expect(refusalIn(new Error('socket hang up'))).toBeUndefined();
  });
});
