import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

import { createLogger } from '../log.js';
import { apply } from './apply.js';
import { EventRecorder } from './events.js';
import { kubeRequest } from './request.js';
import type { KubernetesObject } from './resources.js';
import { resolveBinDir } from '../../test/support/envtest/controlplane.js';
import { startTestCluster, type TestCluster } from '../../test/support/test-cluster.js';

jest.setTimeout(60_000);

const quiet = createLogger('events-test');
quiet.silent = true;

interface CoreEvent {
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
  type: string;
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component?: string; host?: string };
  reportingComponent: string;
  reportingInstance: string;
}

describe('EventRecorder against a real API server', () => {
  let cluster: TestCluster;
  let job: KubernetesObject;
  let clock = new Date('2026-05-01T12:00:00Z');
  let recorder: EventRecorder;
  const ns = 'events-test';

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    cluster = await startTestCluster('events');
    await cluster.controlPlane.kubectl(['create', 'namespace', ns]);
    job = await apply(cluster.kc, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'job-a', namespace: ns } }, { fieldManager: 'flotilla-operator' });
    recorder = new EventRecorder(cluster.kc, { logger: quiet, instance: 'operator-0', now: () => clock });
  });
  afterAll(() => cluster?.stop());

  const events = async (namespace: string, reason: string) =>
    (
      await kubeRequest<{ items: CoreEvent[] }>(cluster.kc, {
        method: 'GET',
        path: `/api/v1/namespaces/${namespace}/events`,
      })
    ).items
      .filter((e) => e.reason === reason)
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const later = (minutes: number) => (clock = new Date(clock.getTime() + minutes * 60_000));

  test('writes a core/v1 Event naming the object and the reporting component', async () => {
    await recorder.event(job, 'Normal', 'AggregatorCreated', 'created Deployment job-a-aggregator');
    const [event, ...rest] = await events(ns, 'AggregatorCreated');
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: 'job-a', namespace: ns, uid: job.metadata?.uid },
      type: 'Normal',
      message: 'created Deployment job-a-aggregator',
      count: 1,
      firstTimestamp: '2026-05-01T12:00:00Z',
      lastTimestamp: '2026-05-01T12:00:00Z',
      source: { component: 'flotilla-operator', host: 'operator-0' },
      reportingComponent: 'flotilla-operator',
      reportingInstance: 'operator-0',
    });
  });

  test('a repeat within 10 minutes of the last bumps count and lastTimestamp; after that, a new Event', async () => {
    const say = () => recorder.event(job, 'Warning', 'QuorumNotMet', '1 of 3 sites connected');
    await say();
    later(4);
    await say();
    later(9); // 13 min after the first, 9 after the last: still the same Event
    await say();
    const [event, ...rest] = await events(ns, 'QuorumNotMet');
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      count: 3,
      firstTimestamp: '2026-05-01T12:00:00Z',
      lastTimestamp: '2026-05-01T12:13:00Z',
    });

    later(11);
    await say();
    expect((await events(ns, 'QuorumNotMet')).map((e) => [e.count, e.firstTimestamp])).toEqual([
      [3, '2026-05-01T12:00:00Z'],
      [1, '2026-05-01T12:24:00Z'],
    ]);
  });

  test('a different message is a different Event; simultaneous repeats still add up on one', async () => {
    await Promise.all(Array.from({ length: 5 }, () => recorder.event(job, 'Normal', 'RoundCompleted', 'round 1 of 5')));
    await recorder.event(job, 'Normal', 'RoundCompleted', 'round 2 of 5');
    expect((await events(ns, 'RoundCompleted')).map((e) => [e.message, e.count]).sort()).toEqual([
      ['round 1 of 5', 5],
      ['round 2 of 5', 1],
    ]);
  });

  test('an Event deleted meanwhile is written afresh; a cluster-scoped object gets its Events in default', async () => {
    await recorder.event(job, 'Normal', 'Expiring', 'certificate expires soon');
    const [first] = await events(ns, 'Expiring');
    await cluster.controlPlane.kubectl(['delete', 'event', first!.metadata.name, '-n', ns]);
    later(1);
    await recorder.event(job, 'Normal', 'Expiring', 'certificate expires soon');
    expect((await events(ns, 'Expiring')).map((e) => e.count)).toEqual([1]);

    const site = await apply<KubernetesObject & { spec: object }>(cluster.kc, {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'Site',
      metadata: { name: 'st-anne' },
      spec: {},
    }, { fieldManager: 'flotilla-operator' });
    await recorder.event(site, 'Normal', 'Enrolled', 'site agent joined');
    const [enrolled] = await events('default', 'Enrolled');
    expect(enrolled?.involvedObject).toMatchObject({ kind: 'Site', name: 'st-anne', uid: site.metadata?.uid });
    expect(enrolled?.involvedObject.namespace).toBeUndefined();
  });

  test('a failure to write is logged, never thrown at the reconcile', async () => {
    const ghost = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'no-such-namespace' } };
    await expect(recorder.event(ghost, 'Warning', 'Lost', 'nowhere to go')).resolves.toBeUndefined();
  });
});
