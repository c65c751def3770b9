/**
 * Between the site protocol's types (sitelink/assignment.ts) and the site protocol's messages. The
 * wire has no "absent" for strings: an empty string there is an absent optional here.
 */
import { bounded, MAX_REPORT_MESSAGE } from '../api/bounds.js';
import type { Assignment, AssignmentPhase, AssignmentStatus } from './assignment.js';
import type { AssignmentMessage, AssignmentMessage__Output, AssignmentStatusMessage, StatusReport__Output } from './proto.js';

export function assignmentToMessage(a: Assignment): AssignmentMessage {
  return {
    namespace: a.namespace,
    job: a.job,
    jobUid: a.jobUid,
    generation: a.generation,
    aggregatorAddress: a.aggregatorAddress,
    image: a.image,
    jobManifest: a.jobManifest,
    dataClaimName: a.dataClaimName ?? '',
    dataPath: a.dataPath ?? '',
    resourceLimits: a.resourceLimits,
    resourceRequests: a.resourceRequests,
    nodeSelector: a.nodeSelector,
    tolerationsJson: a.tolerationsJson,
  };
}

export function assignmentFromMessage(m: AssignmentMessage__Output): Assignment {
  return {
    namespace: m.namespace,
    job: m.job,
    jobUid: m.jobUid,
    generation: m.generation,
    aggregatorAddress: m.aggregatorAddress,
    image: m.image,
    jobManifest: m.jobManifest,
    ...(m.dataClaimName ? { dataClaimName: m.dataClaimName } : {}),
    ...(m.dataPath ? { dataPath: m.dataPath } : {}),
    resourceLimits: { ...m.resourceLimits },
    resourceRequests: { ...m.resourceRequests },
    nodeSelector: { ...m.nodeSelector },
    tolerationsJson: m.tolerationsJson,
  };
}

const PHASES: ReadonlySet<string> = new Set<AssignmentPhase>(['Pending', 'Running', 'Succeeded', 'Failed', 'Refused']);

/** An agent's report as the hub keeps it; an unknown phase is kept as Pending with a note. */
export function statusesFromMessage(report: StatusReport__Output | null | undefined): AssignmentStatus[] {
  return (report?.assignments ?? []).map((s) => {
    const known = PHASES.has(s.phase);
    return {
      namespace: s.namespace,
      job: s.job,
      jobUid: s.jobUid,
      phase: known ? (s.phase as AssignmentPhase) : 'Pending',
      message: known ? s.message : `the agent reported an unknown phase ${JSON.stringify(s.phase)}: ${s.message}`,
    };
  });
}

/** A status as the agent sends it: its message cut to what the hub keeps (api/bounds.ts). */
export function statusToMessage(s: AssignmentStatus): AssignmentStatusMessage {
  return { namespace: s.namespace, job: s.job, jobUid: s.jobUid, phase: s.phase, message: bounded(s.message, MAX_REPORT_MESSAGE) };
}
