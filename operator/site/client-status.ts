/**
 * What the agent reports of an assignment, read from its client pod.
 */
import type { Pod } from './client-objects.js';
import type { AssignmentPhase } from '../sitelink/assignment.js';

export interface PodReport {
  phase: AssignmentPhase;
  message: string;
}

export function podReport(pod: Pod | undefined): PodReport {
  if (!pod) return { phase: 'Pending', message: 'creating the client pod' };
  if (pod.metadata?.deletionTimestamp) return { phase: 'Pending', message: 'the previous client pod is being removed' };
  const phase = pod.status?.phase;
  const container = pod.status?.containerStatuses?.[0];
  switch (phase) {
    case 'Running':
      return { phase: 'Running', message: container?.restartCount ? `restarted ${container.restartCount} time(s)` : '' };
    case 'Succeeded':
      return { phase: 'Succeeded', message: '' };
    case 'Failed': {
      const terminated = container?.state?.terminated;
      const why = terminated ? `${terminated.reason ?? 'exited'} (exit code ${terminated.exitCode})` : (pod.status?.reason ?? '');
      return { phase: 'Failed', message: [why, terminated?.message ?? pod.status?.message].filter(Boolean).join(': ') };
    }
    default: {
      const waiting = container?.state?.waiting;
      if (waiting?.reason) return { phase: 'Pending', message: [waiting.reason, waiting.message].filter(Boolean).join(': ') };
      const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
      return { phase: 'Pending', message: unscheduled?.message ?? 'waiting for the pod to start' };
    }
  }
}
