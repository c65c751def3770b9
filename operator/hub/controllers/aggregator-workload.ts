/**
 * What the aggregator's Deployment and pod say, as the status controller reports it: whether it
 * serves, what the API server refused of its pods, and why a pod that does not serve does not.
 */
import type { Deployment, Pod } from './hub-caches.js';

/** Available as apps/v1 says, for the Deployment's current generation. */
export function isAvailable(deployment: Deployment | undefined): boolean {
  if (!deployment?.status) return false;
  const current = (deployment.status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  const available = deployment.status.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
  return Boolean(current && available && (deployment.status.availableReplicas ?? 0) > 0);
}

/**
 * The API server's refusal of the aggregator's pod, as the Deployment carries it from its ReplicaSet
 * (ReplicaFailure: a quota, Pod Security, a policy), naming the Deployment.
 */
export function podsRefused(deployment: Deployment | undefined): string | undefined {
  const failure = deployment?.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (!failure?.message) return undefined;
  const { namespace, name } = deployment!.metadata!;
  return `the API server refused a Pod of Deployment ${namespace}/${name} (${failure.reason ?? 'ReplicaFailure'}): ${failure.message}`;
}

/** What the aggregator pod says when it is not serving: why it is not scheduled, its waiting reason or its last exit. */
export function aggregatorMessage(pod: Pod | undefined): string | undefined {
  // The scheduler's words: an unbound claim, no node with the resources asked for, ...
  const unscheduled = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) return `the aggregator pod cannot be scheduled: ${unscheduled.message ?? unscheduled.reason ?? 'no reason given'}`;
  const container = pod?.status?.containerStatuses?.[0];
  if (!container || container.ready) return undefined;
  const waiting = container.state?.waiting;
  if (waiting) return `the aggregator container is waiting: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
  const last = container.lastState?.terminated;
  if (last) return `the aggregator container exited with code ${last.exitCode} (${last.reason}) and restarted ${container.restartCount} time(s)`;
  return 'the aggregator is starting';
}
