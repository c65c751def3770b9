import { describe, expect, test } from '@jest/globals';
import { aggregatorMessage, podsRefused } from './aggregator-workload.js';
import type { Deployment, Pod } from './hub-caches.js';

// Statuses as kube-controller-manager and kube-scheduler write them.
const deployment = (conditions: NonNullable<Deployment['status']>['conditions']): Deployment => ({
  metadata: { name: 'heart-aggregator', namespace: 'research', generation: 1 },
  status: { observedGeneration: 1, replicas: 0, conditions },
});

describe("the aggregator's Deployment and pod", () => {
  test('a pod the ReplicaSet could not create is a refusal naming the Deployment, in the API server words', () => {
    const words = 'pods "heart-aggregator-7d4b9c8f6-" is forbidden: exceeded quota: no-pods, requested: pods=1, used: pods=0, limited: pods=0';
    expect(
      podsRefused(
        deployment([
          { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
          { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: words },
        ]),
      ),
    ).toBe(`the API server refused a Pod of Deployment research/heart-aggregator (FailedCreate): ${words}`);
    expect(podsRefused(deployment([{ type: 'ReplicaFailure', status: 'False', reason: 'FailedCreate', message: words }]))).toBeUndefined();
    expect(podsRefused(undefined)).toBeUndefined();
  });

  test("a pod that is not scheduled says the scheduler's words (a claim that cannot be bound, say)", () => {
    const pod: Pod = {
      metadata: { name: 'heart-aggregator-7d4b9c8f6-x2x9q', namespace: 'research' },
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
          },
        ],
      },
    };
    expect(aggregatorMessage(pod)).toBe(
      'the aggregator pod cannot be scheduled: 0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
    );
    const waiting: Pod = {
      status: { phase: 'Pending', containerStatuses: [{ name: 'aggregator', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' } } }] },
    };
    expect(aggregatorMessage(waiting)).toBe('the aggregator container is waiting: ImagePullBackOff: Back-off pulling image "x"');
  });
});
