/**
 * The Events a job's status change deserves, found by comparing the status before and after a
 * pass: so a restarted operator, which compares against the stored status, repeats none.
 */
import type { FederatedJobStatus } from '../../api/federatedjob.js';
import { ConditionType, EventReason, isFinal, Reason } from '../../api/vocabulary.js';
import { findCondition } from '../../kube/conditions.js';
import { isNotAllowedMessage } from './job-sites.js';

export interface Milestone {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** At most about ten RoundCompleted Events per job, and always one for the last round. */
export function roundEventInterval(rounds: number): number {
  return Math.max(1, Math.ceil(rounds / 10));
}

export function milestones(before: FederatedJobStatus | undefined, after: FederatedJobStatus, rounds: number): Milestone[] {
  const events: Milestone[] = [];
  const was = before ?? {};
  // A job whose status is written seldom may go from Pending to its end at once: its aggregator was up all the same.
  const trainedToEnd = isFinal(after.phase) && !isFinal(was.phase) && (after.round ?? 0) > 0;
  if (was.phase !== 'Running' && (after.phase === 'Running' || trainedToEnd)) {
    events.push({ type: 'Normal', reason: EventReason.Running, message: `the aggregator is up; sites dial it at ${after.aggregatorEndpoint}` });
  }
  const every = roundEventInterval(rounds);
  const [from, to] = [was.round ?? 0, after.round ?? 0];
  if (to > from && (Math.floor(to / every) > Math.floor(from / every) || to === rounds)) {
    const metrics = after.latestMetrics;
    const figures = metrics?.accuracy !== undefined ? `: accuracy ${metrics.accuracy.toFixed(3)} over ${metrics.participants ?? 0} site(s)` : '';
    events.push({ type: 'Normal', reason: EventReason.RoundCompleted, message: `round ${to} of ${rounds} closed${figures}` });
  }
  for (const site of after.sites ?? []) {
    const earlier = was.sites?.find((s) => s.name === site.name);
    if (site.phase === 'Refused' && earlier?.phase !== 'Refused') {
      // The hub's own refusal (the Site does not allow the namespace) speaks for itself.
      events.push(
        isNotAllowedMessage(site.name, site.message)
          ? { type: 'Warning', reason: EventReason.SiteNotAllowed, message: site.message! }
          : { type: 'Warning', reason: EventReason.SiteRefused, message: `site ${site.name} refused the job: ${site.message ?? 'no reason given'}` },
      );
    }
  }
  // A refusal or a conflict once, when it appears or its words change.
  const [ready, wasReady] = [findCondition(after.conditions, ConditionType.Ready), findCondition(was.conditions, ConditionType.Ready)];
  const obstacle = ready?.reason === Reason.ObjectRefused ? EventReason.ObjectRefused : ready?.reason === Reason.ObjectConflict ? EventReason.ObjectConflict : undefined;
  if (obstacle && (wasReady?.reason !== ready!.reason || wasReady.message !== ready!.message)) {
    events.push({ type: 'Warning', reason: obstacle, message: ready!.message });
  }
  if (was.phase !== after.phase && isFinal(after.phase)) {
    const condition = after.conditions?.find((c) => c.type === after.phase);
    const model = after.model?.sha256 ? `; model ${after.model.location} (sha256 ${after.model.sha256})` : '';
    events.push({
      type: after.phase === 'Succeeded' ? 'Normal' : 'Warning',
      reason: after.phase === 'Succeeded' ? EventReason.Succeeded : EventReason.Failed,
      message: `${condition?.message ?? after.phase}${after.phase === 'Succeeded' ? model : ''}`,
    });
  }
  return events;
}
