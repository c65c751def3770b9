import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

import type * as k8s from '@kubernetes/client-node';

import { createLogger } from '../log.js';
import { LeaderElector } from './leader-election.js';
import { readObject, type KubernetesObject } from './resources.js';
import { eventually } from '../../test/support/eventually.js';
import { resolveBinDir } from '../../test/support/envtest/controlplane.js';
import { startTestCluster, type TestCluster } from '../../test/support/test-cluster.js';

jest.setTimeout(60_000);

const quiet = createLogger('leader-election-test');
quiet.silent = true;

// Short periods so the test runs in seconds; the ratios are the production ones' (15/10/2) in spirit.
const TIMING = { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.4 };

interface Lease extends KubernetesObject {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number };
}

/** One candidate process: its elector and a timeline of what happened to it. */
function candidate(kc: k8s.KubeConfig, lease: string, identity: string, drainMs = 0) {
  const elector = new LeaderElector(kc, { namespace: 'default', name: lease, identity, logger: quiet, ...TIMING });
  const timeline = { started: 0, aborted: 0, drained: 0, stopped: 0 };
  const done = elector.run({
    onStartedLeading: async (signal) => {
      timeline.started = performance.now();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      timeline.aborted = performance.now();
      await new Promise((resolve) => setTimeout(resolve, drainMs)); // the work winds down
      timeline.drained = performance.now();
    },
    onStoppedLeading: () => {
      timeline.stopped = performance.now();
    },
  });
  return { identity, elector, timeline, done };
}

describe('LeaderElector against a real API server', () => {
  let cluster: TestCluster;

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    cluster = await startTestCluster('leader-election');
  });
  afterAll(() => cluster?.stop());

  const holder = async (lease: string) =>
    (
      await readObject<Lease>(cluster.kc, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        name: lease,
        namespace: 'default',
      })
    )?.spec;

  test('one of two candidates leads, steadily; release() drains, then hands over at once', async () => {
    const a = candidate(cluster.kc, 'handover', 'operator-a', 500);
    const b = candidate(cluster.kc, 'handover', 'operator-b', 500);
    try {
      await handOver(a, b);
    } finally {
      await Promise.all([a.elector.release(), b.elector.release()]);
    }
    expect(await holder('handover')).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
  });

  async function handOver(a: ReturnType<typeof candidate>, b: ReturnType<typeof candidate>) {
    await eventually(() => a.elector.isLeader() || b.elector.isLeader(), 10_000, 'a leader');
    const [leader, standby] = a.elector.isLeader() ? [a, b] : [b, a];
    await new Promise((resolve) => setTimeout(resolve, 2 * TIMING.leaseDurationSeconds * 1000)); // renewals hold
    expect(standby.elector.isLeader()).toBe(false);
    expect(standby.timeline.started).toBe(0);
    expect(standby.elector.currentLeader()).toBe(leader.identity);
    expect((await holder('handover'))?.holderIdentity).toBe(leader.identity);

    const releasedAt = performance.now();
    await leader.elector.release();
    await leader.done;
    expect(leader.timeline.drained - leader.timeline.aborted).toBeGreaterThanOrEqual(490);
    expect(leader.timeline.stopped).toBeGreaterThanOrEqual(leader.timeline.drained);
    expect(leader.elector.isLeader()).toBe(false);

    await eventually(() => standby.elector.isLeader(), 5_000, 'the standby leading');
    // Not before the old leader's work drained; then within about one retry period.
    expect(standby.timeline.started).toBeGreaterThan(leader.timeline.drained);
    const handover = standby.timeline.started - leader.timeline.drained;
    expect(handover).toBeLessThan(TIMING.retryPeriodSeconds * 1.2 * 1000 + 500);
    expect((await holder('handover'))?.leaseTransitions).toBe(1);
    console.log(
      `release: drain ${Math.round(leader.timeline.drained - releasedAt)} ms, hand-over ${Math.round(handover)} ms`,
    );
  }

  test('a leader cut off from the API server steps down by its renew deadline; the standby takes over after the lease expires', async () => {
    const a = candidate(cluster.kcViaProxy, 'partition', 'operator-a');
    await eventually(() => a.elector.isLeader(), 10_000, 'operator-a leading');
    const b = candidate(cluster.kc, 'partition', 'operator-b');
    await eventually(() => b.elector.currentLeader() === 'operator-a', 5_000, 'operator-b seeing the leader');

    const cutAt = performance.now();
    cluster.proxy.cut();
    try {
      await a.done; // lost: run() ends
      expect(a.timeline.stopped).toBeGreaterThan(0);
      expect(a.timeline.aborted).toBeGreaterThan(0);
      expect(a.elector.isLeader()).toBe(false);
      const stepDown = a.timeline.stopped - cutAt;
      // Its renew deadline runs from its last renewal, before the cut; what must hold even when this
      // shared machine runs its timers late is that it stops before the lease can expire for others.
      expect(stepDown).toBeLessThan(TIMING.leaseDurationSeconds * 1000);

      await eventually(() => b.elector.isLeader(), 10_000, 'operator-b leading');
      const takeover = b.timeline.started - cutAt;
      // Never two leaders: b starts only after the lease a last renewed has run out.
      expect(b.timeline.started).toBeGreaterThan(a.timeline.stopped);
      expect(takeover).toBeGreaterThanOrEqual((TIMING.leaseDurationSeconds - TIMING.retryPeriodSeconds) * 1000 - 100);
      expect((await holder('partition'))?.holderIdentity).toBe('operator-b');
      console.log(
        `partition: step-down ${Math.round(stepDown)} ms, take-over ${Math.round(takeover)} ms after the cut`,
      );
    } finally {
      cluster.proxy.restore();
      await b.elector.release();
    }
  });

  test('refuses timings under which two leaders could overlap', () => {
    const make = (t: object) => () =>
      new LeaderElector(cluster.kc, { namespace: 'default', name: 'x', identity: 'y', ...t });
    expect(make({ leaseDurationSeconds: 10, renewDeadlineSeconds: 10 })).toThrow(/leaseDuration > renewDeadline/);
    expect(make({ renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).toThrow(/renewDeadline > 1.2/);
  });
});
