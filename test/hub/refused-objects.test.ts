/**
 * What the API server refuses of a job's objects reaches the user: a condition on the FederatedJob
 * and a Warning Event (what `kubectl describe` shows), naming the object and quoting the server,
 * gone once the obstacle is. A real operator process against a real hub (API server with its
 * admission plugins, kube-controller-manager for quotas and ReplicaSets, the process kubelet).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import type { FederatedJob } from '../../operator/api/federatedjob.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import type { OperatorProcess } from '../support/operator-process.js';
import { federatedJob, JOB_NAMESPACE, startHub, type Hub } from './hub-fixture.js';

jest.setTimeout(300_000);

type Condition = NonNullable<NonNullable<FederatedJob['status']>['conditions']>[number];
interface Event {
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string; uid?: string };
}

describe('objects the API server refuses', () => {
  let hub: Hub;
  let operator: OperatorProcess;
  const ns = `--namespace=${JOB_NAMESPACE}`;
  const job = async (name: string): Promise<FederatedJob> => JSON.parse(await hub.kubectl('get', 'federatedjob', name, ns, '--output=json'));
  const condition = async (name: string, type: string): Promise<Condition | undefined> => (await job(name)).status?.conditions?.find((c) => c.type === type);
  const refusalEvents = async (name: string): Promise<Event[]> =>
    (JSON.parse(await hub.kubectl('get', 'events', ns, `--field-selector=involvedObject.name=${name},reason=ObjectRefused`, '--output=json')) as { items: Event[] }).items;
  const ready = async (name: string) => (await condition(name, 'Ready'))?.status === 'True';

  /** A ResourceQuota the quota controller has counted (until then admission refuses everything it covers). */
  async function quota(name: string, hard: Record<string, string>): Promise<void> {
    await hub.apply({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name, namespace: JOB_NAMESPACE }, spec: { hard } });
    await eventually(async () => Object.keys(JSON.parse(await hub.kubectl('get', 'resourcequota', name, ns, '--output=json')).status?.hard ?? {}).length > 0, 30_000, `quota ${name} counted`);
  }

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    hub = await startHub('refused');
    operator = await hub.operator('operator-0');
    await eventually(() => operator.isLeading(), 60_000, 'the operator to lead');
  });
  afterAll(async () => {
    if (process.env.FLOTILLA_TEST_LOGS) await writeFile(`${process.env.FLOTILLA_TEST_LOGS}/operator-refused.log`, await operator.log());
    await hub?.stop();
  });

  test('a claim refused by a ResourceQuota: condition and Warning Event in the quota words, cleared once the quota goes', async () => {
    await quota('no-claims', { persistentvolumeclaims: '0' });
    await hub.apply(federatedJob('heart'));
    await eventually(async () => (await condition('heart', 'Ready'))?.reason === 'ObjectRefused', 60_000, 'the refusal in the Ready condition');

    const words =
      'persistentvolumeclaims "heart-checkpoints" is forbidden: exceeded quota: no-claims, requested: persistentvolumeclaims=1, used: persistentvolumeclaims=0, limited: persistentvolumeclaims=0';
    const message = `the API server refused PersistentVolumeClaim research/heart-checkpoints: ${words}`;
    const status = (await job('heart')).status!;
    expect(status.phase).toBe('Pending');
    expect(status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'False', reason: 'ObjectRefused', message, observedGeneration: 1 }));
    expect(status.conditions).toContainEqual(expect.objectContaining({ type: 'Progressing', status: 'False', reason: 'ObjectRefused', message }));
    await eventually(async () => (await refusalEvents('heart')).length > 0, 10_000, 'the Warning Event');
    const events = await refusalEvents('heart');
    expect(events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'ObjectRefused', message, involvedObject: expect.objectContaining({ kind: 'FederatedJob', name: 'heart' }) })]);
    // Retries do not repeat the Event (nor rewrite the status): the same refusal is one Event.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await refusalEvents('heart')).map((e) => [e.message, e.count])).toEqual([[message, 1]]);

    const described = await hub.kubectl('describe', 'federatedjob', 'heart', ns);
    expect(described).toMatch(/Reason:\s+ObjectRefused/);
    expect(described).toMatch(/Warning\s+ObjectRefused/);
    expect(described).toContain('exceeded quota: no-claims');

    await hub.kubectl('delete', 'resourcequota', 'no-claims', ns);
    await eventually(() => ready('heart'), 120_000, 'the job to be Ready once the quota is gone');
    const after = (await job('heart')).status!;
    expect(after.phase).toBe('Running');
    expect(after.conditions!.filter((c) => c.reason === 'ObjectRefused')).toEqual([]);
    await hub.kubectl('get', 'persistentvolumeclaim', 'heart-checkpoints', ns);
  });

  test('a Deployment refused by a ValidatingAdmissionPolicy: the policy and its message, cleared once its binding goes', async () => {
    const policy = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'aggregator-approval' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }] },
        validations: [{ expression: "object.metadata.labels['flotilla.dev/job'] != 'lungs'", message: "the lungs study awaits the data protection officer's approval" }],
      },
    };
    const binding = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'aggregator-approval' },
      spec: { policyName: 'aggregator-approval', validationActions: ['Deny'] },
    };
    await hub.apply({ apiVersion: 'v1', kind: 'List', items: [policy, binding] });
    // The premise: the API server enforces the policy (it loads policies asynchronously).
    const probe = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'probe', namespace: JOB_NAMESPACE, labels: { 'flotilla.dev/job': 'lungs' } }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
    const tryProbe = () => hub.cluster.kubectl(['create', '--dry-run=server', '--filename=-'], JSON.stringify(probe));
    await eventually(() => tryProbe().then(() => false, (err: Error) => /denied request/.test(err.message)), 30_000, 'the policy to be enforced');

    await hub.apply(federatedJob('lungs'));
    await eventually(async () => (await condition('lungs', 'Ready'))?.reason === 'ObjectRefused', 60_000, 'the refusal in the Ready condition');
    const ready = (await condition('lungs', 'Ready'))!;
    expect(ready.status).toBe('False');
    expect(ready.message).toMatch(/^the API server refused Deployment research\/lungs-aggregator: /);
    expect(ready.message).toContain("ValidatingAdmissionPolicy 'aggregator-approval' with binding 'aggregator-approval' denied request: the lungs study awaits the data protection officer's approval");
    await eventually(async () => (await refusalEvents('lungs')).some((e) => e.type === 'Warning' && e.message === ready.message), 10_000, 'the Warning Event');

    await hub.kubectl('delete', 'validatingadmissionpolicybinding', 'aggregator-approval');
    await eventually(async () => (await condition('lungs', 'Ready'))?.status === 'True', 120_000, 'the job to be Ready once the binding is gone');
    await hub.kubectl('delete', 'validatingadmissionpolicy', 'aggregator-approval');
  });

  test("the aggregator's pod refused by a ResourceQuota: the ReplicaSet's failure, cleared once the quota goes", async () => {
    await quota('no-pods', { pods: '0' });
    await hub.apply(federatedJob('kidney'));
    await eventually(async () => (await condition('kidney', 'Ready'))?.reason === 'ObjectRefused', 60_000, 'the refusal in the Ready condition');
    const { message } = (await condition('kidney', 'Ready'))!;
    expect(message).toMatch(/^the API server refused a Pod of Deployment research\/kidney-aggregator \(FailedCreate\): pods "kidney-aggregator-[a-z0-9-]+" is forbidden: exceeded quota: no-pods/);
    await eventually(async () => (await refusalEvents('kidney')).some((e) => e.type === 'Warning' && e.message === message), 10_000, 'the Warning Event');

    await hub.kubectl('delete', 'resourcequota', 'no-pods', ns);
    await eventually(() => ready('kidney'), 180_000, 'the job to be Ready once the quota is gone');
  });

  test('an object the job makes invalid is not retried until the job changes; then it is made', async () => {
    await hub.apply(federatedJob('greedy', { aggregator: { resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } } }));
    await eventually(async () => (await condition('greedy', 'Ready'))?.reason === 'ObjectRefused', 60_000, 'the refusal in the Ready condition');
    const { message } = (await condition('greedy', 'Ready'))!;
    expect(message).toMatch(/^the API server refused Deployment research\/greedy-aggregator: Deployment.apps "greedy-aggregator" is invalid: /);
    expect(message).toContain('must be less than or equal to cpu limit');

    // Terminal: after the passes its own objects' events cause, no retry loop.
    const attempts = async () => (await operator.log()).split('\n').filter((l) => l.includes('not retrying') && l.includes('research/greedy')).length;
    await eventually(async () => (await attempts()) > 0, 10_000, 'the terminal failure in the log');
    await new Promise((r) => setTimeout(r, 3_000));
    const settled = await attempts();
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await attempts()).toBe(settled);
    expect(await operator.metrics()).toMatch(/^flotilla_reconcile_total\{controller="federatedjob-workload",result="terminal"\} [1-9]\d*$/m);

    await hub.kubectl('patch', 'federatedjob', 'greedy', ns, '--type=merge', '--patch={"spec":{"aggregator":{"resources":{"limits":{"cpu":"2"}}}}}');
    await eventually(() => ready('greedy'), 120_000, 'the job to be Ready once its spec is fixed');
  });
});
