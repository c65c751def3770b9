/**
 * Two operator processes against one hub: one leads, the other stands by with warm caches. The
 * leader is killed with SIGKILL in the middle of a job; the standby takes the Lease over when it
 * expires and carries on with no duplicated or orphaned objects and without restarting the
 * aggregator. A graceful stop releases the Lease, so the next replica takes over at once.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { eventually } from '../support/eventually.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import type { OperatorProcess } from '../support/operator-process.js';
import { federatedJob, JOB_NAMESPACE, OPERATOR_NAMESPACE, startHub, type Hub } from './hub-fixture.js';

jest.setTimeout(300_000);

describe('operator leader election', () => {
  let hub: Hub;
  let first: OperatorProcess;
  let second: OperatorProcess;
  const ns = `--namespace=${JOB_NAMESPACE}`;
  const holder = () => hub.kubectl('get', 'lease', 'flotilla-operator', `--namespace=${OPERATOR_NAMESPACE}`, '--output=jsonpath={.spec.holderIdentity}');
  const owned = async () =>
    (
      await hub.kubectl(
        'get',
        'deployments,replicasets,pods,services,configmaps,secrets,persistentvolumeclaims',
        ns,
        '--selector=flotilla.dev/job=failover',
        '--output=name',
      )
    )
      .trim()
      .split('\n')
      .sort();
  const aggregatorPods = async () => (await hub.kubectl('get', 'pods', ns, '--selector=flotilla.dev/job=failover', '--output=jsonpath={.items[*].metadata.uid}')).split(' ');

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    hub = await startHub('leader');
    first = await hub.operator('operator-a');
    await eventually(() => first.isLeading(), 60_000, 'operator-a to lead');
    second = await hub.operator('operator-b');
  });
  afterAll(() => hub?.stop());

  test('one replica leads; the other stands by, ready (its caches synced) but not leading', async () => {
    // A standby reports itself, not the cluster's objects: those are the leader's to count.
    await eventually(async () => /^flotilla_operator_leader 0$/m.test(await second.metrics()), 30_000, 'the standby to serve metrics');
    expect(await second.metrics()).not.toMatch(/^flotilla_federatedjob_phase/m);
    expect(await holder()).toBe('operator-a');
    await eventually(() => second.isReady(), 30_000, 'the standby to sync its caches');
    expect({ standbyLeads: await second.isLeading(), leaderLeads: await first.isLeading(), leaderReady: await first.isReady() }).toEqual({
      standbyLeads: false,
      leaderLeads: true,
      leaderReady: true,
    });
  });

  test('SIGKILL of the leader mid-job: the standby takes over, nothing duplicated, nothing orphaned', async () => {
    await hub.apply(federatedJob('failover', { rounds: 50 }));
    const phase = () => hub.kubectl('get', 'federatedjob', 'failover', ns, '--output=jsonpath={.status.phase}');
    await eventually(async () => (await phase()) === 'Running', 90_000, 'the job to run');
    const before = await owned();
    const pods = await aggregatorPods();
    expect(pods).toHaveLength(1);

    await first.kill();
    await eventually(async () => (await holder()) === 'operator-b', 60_000, 'operator-b to take the Lease');
    await eventually(() => second.isLeading(), 30_000, 'operator-b to lead');
    expect(await second.metrics()).toMatch(/^flotilla_operator_leader 1$/m);
    // Once the new leader has reconciled the job: the same objects, the same aggregator pod.
    await eventually(
      async () => (await second.reconciles('federatedjob-workload', ['success', 'requeue'])) >= 1 && (await second.reconciles('federatedjob-status', ['success', 'requeue'])) >= 1,
      30_000,
      'operator-b to reconcile the job',
    );
    expect(await owned()).toEqual(before);
    expect(await aggregatorPods()).toEqual(pods);
    expect(await phase()).toBe('Running');

    // A change after the failover is acted on by the new leader.
    await hub.kubectl('patch', 'federatedjob', 'failover', ns, '--type=merge', '--patch={"spec":{"roundDeadlineSeconds":300}}');
    await eventually(
      async () => (await hub.kubectl('get', 'federatedjob', 'failover', ns, '--output=jsonpath={.status.observedGeneration}')) === '2',
      30_000,
      'operator-b to observe generation 2',
    );
  });

  test('a graceful stop releases the Lease: the next replica leads at once', async () => {
    const third = await hub.operator('operator-c');
    await eventually(async () => (await third.metrics()).includes('flotilla_operator_leader'), 30_000, 'operator-c to start');
    const stoppedAt = Date.now();
    expect(await second.stop()).toBe(0);
    await eventually(() => third.isLeading(), 30_000, 'operator-c to lead');
    expect(await holder()).toBe('operator-c');
    // Far sooner than a Lease expiry: the Lease was handed over, not waited out.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
  });
});
