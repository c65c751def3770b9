/**
 * A FederatedJob's status, computed in memory from what the operator observes: the aggregator's
 * Deployment, its /status report, the sites' reports through their sessions. Pure: the status
 * controller observes, calls jobStatus, and writes the result only when it differs.
 *
 * Phase: Pending until the aggregator is available, Running from then on (an aggregator restarting
 * mid-job leaves the job Running, not Ready), Succeeded or Failed as the aggregator reports, and
 * final from then on. Progress, metrics and per-site figures keep their last known values while
 * the aggregator cannot be reached.
 *
 * Conditions (docs/architecture.md tables them): Ready says whether the sites can train now and,
 * when not, why (the first of: the job cannot run as it is, an object of its names that is someone
 * else's, an object refused by the API server, the aggregator not serving); Progressing whether rounds run; SitesReady which sites do not run
 * their client, and why; Succeeded or Failed once the job ended.
 */
import path from 'node:path';
import { bounded, MAX_JOB_SITES, MAX_REPORT_MESSAGE } from '../../api/bounds.js';
import type { FederatedJob, FederatedJobStatus } from '../../api/federatedjob.js';
import { ConditionType, isFinal, Reason, type JobPhase } from '../../api/vocabulary.js';
import { rfc3339, setCondition, type ConditionUpdate } from '../../kube/conditions.js';
import type { AssignmentStatus } from '../../sitelink/assignment.js';
import { AGGREGATOR_PATHS } from '../manifests/aggregator-deployment.js';
import type { AggregatorReport } from './aggregator-report.js';

export type SiteStatus = NonNullable<FederatedJobStatus['sites']>[number];

export interface JobObservation {
  job: FederatedJob;
  now: Date;
  /** The sites the job selects (resolved). */
  sites: string[];
  /** Why the job cannot run; `final` fails it for good (an invalid name), else it waits. */
  blocked?: { reason: string; message: string; final: boolean };
  /** What the API server refuses of the job's objects, naming the object and quoting the server. */
  refused?: string;
  /** An object of one of the job's names that is someone else's, named (left untouched). */
  conflict?: string;
  endpoint?: string;
  /** Whether the aggregator Deployment is available, and if not, what its pod says. */
  aggregator: { available: boolean; message?: string };
  /** The aggregator's report, when it could be read this pass. */
  report?: AggregatorReport;
  /** Each site's report of this job (same uid), from its session. */
  siteReports: Map<string, AssignmentStatus>;
  /** Listed sites the hub gives no assignment, with why (a Site that does not allow the namespace). */
  siteRefusals?: Map<string, string>;
  checkpointClaim: string;
}

export function jobStatus(o: JobObservation): FederatedJobStatus {
  const previous = o.job.status ?? {};
  const generation = o.job.metadata.generation;
  const now = rfc3339(o.now);
  const phase = nextPhase(o, previous.phase);
  const final = isFinal(phase);
  const report = o.report;
  const round = report?.round ?? previous.round ?? 0;
  const sites = o.sites.slice(0, MAX_JOB_SITES).map((name) => siteStatus(name, o, previous.sites?.find((s) => s.name === name), final));

  const status: FederatedJobStatus = {
    observedGeneration: generation,
    phase,
    progress: `${round}/${o.job.spec.rounds}`,
    round,
    sitesReady: `${sites.filter((s) => s.phase === 'Running').length}/${o.sites.length}`,
    ...(previous.startTime || phase !== 'Pending' ? { startTime: previous.startTime ?? now } : {}),
    ...(final ? { completionTime: previous.completionTime ?? now } : {}),
    ...((o.endpoint ?? previous.aggregatorEndpoint) ? { aggregatorEndpoint: o.endpoint ?? previous.aggregatorEndpoint } : {}),
    ...(report ? latestMetrics(report) : previous.latestMetrics ? { latestMetrics: previous.latestMetrics } : {}),
    ...(report?.privacy ? { privacy: privacyOf(report.privacy) } : previous.privacy ? { privacy: previous.privacy } : {}),
    ...(report?.traffic ? { traffic: trafficOf(report.traffic) } : previous.traffic ? { traffic: previous.traffic } : {}),
    sites,
    ...(report?.model ? { model: modelOf(o, report.model) } : previous.model ? { model: previous.model } : {}),
  };
  // A finished job's conditions say how it ended; later passes have less to go on.
  status.conditions = isFinal(previous.phase) ? previous.conditions : conditions(o, status, previous.conditions, generation);
  return status;
}

function nextPhase(o: JobObservation, previous: FederatedJobStatus['phase']): JobPhase {
  if (isFinal(previous)) return previous;
  if (o.blocked?.final) return 'Failed';
  if (o.report && isFinal(o.report.phase)) return o.report.phase;
  if (o.aggregator.available || previous === 'Running') return 'Running';
  return 'Pending';
}

function siteStatus(name: string, o: JobObservation, previous: SiteStatus | undefined, final: boolean): SiteStatus {
  const refusal = o.siteRefusals?.get(name);
  const report = refusal ? undefined : o.siteReports.get(name);
  const reported: Pick<AssignmentStatus, 'phase' | 'message'> | undefined = refusal ? { phase: 'Refused', message: refusal } : report;
  const figures = o.report?.sites[name];
  // After the end the agents remove their clients and stop reporting the job: keep what they said last.
  const phase = reported?.phase ?? (final ? previous?.phase : undefined) ?? 'Pending';
  const said = reported ? reported.message : final ? previous?.message : 'no client at the site yet';
  const message = said && bounded(said, MAX_REPORT_MESSAGE);
  const lastRound = figures?.lastRound ?? previous?.lastRound;
  const accuracy = figures?.accuracy ?? previous?.accuracy;
  const samples = figures?.samples ?? previous?.samples;
  const fineTunedAccuracy = figures?.fineTunedAccuracy ?? previous?.fineTunedAccuracy;
  // Under spec.asynchronous: the staleness of the site's last applied update, and the weight it gave.
  const staleness = figures?.staleness ?? previous?.staleness;
  const stalenessWeight = figures?.stalenessWeight ?? previous?.stalenessWeight;
  // The hub's record of what the site runs (assignments.ts, job-cleanup.ts): the agent's own report,
  // kept as it was once the job has ended.
  const fromAgent = report !== undefined || (!refusal && final && previous?.reported === true);
  return {
    name,
    phase,
    ...(message ? { message } : {}),
    ...(fromAgent ? { reported: true } : {}),
    ...(lastRound !== undefined ? { lastRound } : {}),
    ...(accuracy !== undefined && accuracy !== null ? { accuracy } : {}),
    ...(samples !== undefined ? { samples } : {}),
    ...(fineTunedAccuracy !== undefined ? { fineTunedAccuracy } : {}),
    ...(staleness !== undefined ? { staleness } : {}),
    ...(stalenessWeight !== undefined ? { stalenessWeight } : {}),
  };
}

function privacyOf(p: NonNullable<AggregatorReport['privacy']>): NonNullable<FederatedJobStatus['privacy']> {
  return { epsilon: p.epsilon, delta: p.delta, ...(p.budget !== null ? { budget: p.budget } : {}) };
}

function trafficOf(t: NonNullable<AggregatorReport['traffic']>): NonNullable<FederatedJobStatus['traffic']> {
  return {
    downloadBytes: t.downloadBytes,
    uploadBytes: t.uploadBytes,
    ...(t.factor !== null ? { compressionFactor: Math.round(t.factor * 1000) / 1000 } : {}),
    downloadError: t.downloadError,
  };
}

function latestMetrics(report: AggregatorReport): Pick<FederatedJobStatus, 'latestMetrics'> {
  return {
    latestMetrics: {
      participants: report.participants,
      ...(report.loss !== null ? { loss: report.loss } : {}),
      ...(report.accuracy !== null ? { accuracy: report.accuracy } : {}),
    },
  };
}

/**
 * The model on the checkpoint claim, as pvc://<namespace>/<claim>/<path on the volume>. The
 * aggregator's state dir is the claim's root (aggregator-deployment.ts): a path under the state
 * mount is taken relative to it; a path the aggregator sees elsewhere (its volume mounted at
 * another place, as under the tests' process kubelet) names a file at the claim's root.
 */
function modelOf(o: JobObservation, model: NonNullable<AggregatorReport['model']>): NonNullable<FederatedJobStatus['model']> {
  const underMount = path.posix.relative(AGGREGATOR_PATHS.state, path.posix.resolve(AGGREGATOR_PATHS.state, model.path));
  const onVolume = underMount.startsWith('..') ? path.posix.basename(model.path) : underMount;
  return { location: `pvc://${o.job.metadata.namespace}/${o.checkpointClaim}/${onVolume}`, sha256: model.sha256, bytes: model.bytes };
}

function conditions(
  o: JobObservation,
  status: FederatedJobStatus,
  previous: FederatedJobStatus['conditions'],
  observedGeneration: number | undefined,
): FederatedJobStatus['conditions'] {
  const set: Setter = (list, c) => setCondition(list, { ...c, observedGeneration }, o.now);
  const { phase } = status;
  if (!isFinal(phase)) return set(readiness(o, status, previous, set), sitesReady(status.sites ?? [], o.siteRefusals));
  const ended = phase === 'Succeeded' ? Reason.RoundsCompleted : Reason.AggregatorFailed;
  const why = o.blocked?.final ? o.blocked : { reason: ended, message: o.report?.message ?? `round ${status.round} of ${o.job.spec.rounds} closed` };
  let list = set(previous, { type: ConditionType.Ready, status: 'False', reason: Reason.Finished, message: `the job has ended: ${phase}` });
  list = set(list, { type: ConditionType.Progressing, status: 'False', reason: phase, message: why.message });
  return set(list, { type: phase, status: 'True', reason: why.reason, message: why.message });
}

type Setter = (list: FederatedJobStatus['conditions'], c: Omit<ConditionUpdate, 'observedGeneration'>) => FederatedJobStatus['conditions'];

/** Ready and Progressing of a job that has not ended. */
function readiness(o: JobObservation, status: FederatedJobStatus, previous: FederatedJobStatus['conditions'], set: Setter): FederatedJobStatus['conditions'] {
  if (o.blocked) {
    const list = set(previous, { type: ConditionType.Ready, status: 'False', reason: o.blocked.reason, message: o.blocked.message });
    return set(list, { type: ConditionType.Progressing, status: 'False', reason: o.blocked.reason, message: o.blocked.message });
  }
  const progressing = status.phase === 'Running';
  let list: FederatedJobStatus['conditions'];
  if (o.conflict) {
    list = set(previous, { type: ConditionType.Ready, status: 'False', reason: Reason.ObjectConflict, message: o.conflict });
  } else if (o.refused) {
    list = set(previous, { type: ConditionType.Ready, status: 'False', reason: Reason.ObjectRefused, message: o.refused });
  } else if (o.aggregator.available) {
    list = set(previous, { type: ConditionType.Ready, status: 'True', reason: Reason.AggregatorAvailable, message: `sites dial the aggregator at ${status.aggregatorEndpoint}` });
  } else {
    const reason = progressing ? Reason.AggregatorUnavailable : Reason.AggregatorStarting;
    list = set(previous, { type: ConditionType.Ready, status: 'False', reason, message: o.aggregator.message ?? 'waiting for the aggregator Deployment to become available' });
  }
  if (progressing) {
    return set(list, { type: ConditionType.Progressing, status: 'True', reason: Reason.RoundsInProgress, message: `round ${status.round} of ${o.job.spec.rounds} closed` });
  }
  const [reason, message] = o.conflict
    ? [Reason.ObjectConflict, o.conflict]
    : o.refused
      ? [Reason.ObjectRefused, o.refused]
      : [Reason.Pending, 'the aggregator has not started yet'];
  return set(list, { type: ConditionType.Progressing, status: 'False', reason, message });
}

/** Whether every selected site runs its client; if not, each other site's phase and what it said. */
function sitesReady(sites: SiteStatus[], hubRefused: ReadonlyMap<string, string> = new Map()): Omit<ConditionUpdate, 'observedGeneration'> {
  const type = ConditionType.SitesReady;
  const waiting = sites.filter((s) => s.phase !== 'Running');
  if (waiting.length === 0) return { type, status: 'True', reason: Reason.ClientsRunning, message: `all ${sites.length} site(s) run their client` };
  const reason = waiting.some((s) => hubRefused.has(s.name))
    ? Reason.SiteNotAllowed
    : waiting.some((s) => s.phase === 'Refused')
      ? Reason.SiteRefused
      : Reason.ClientsNotRunning;
  const each = waiting.map((s) => `${s.name} ${s.phase}${s.message ? `: ${s.message}` : ''}`).join('; ');
  return { type, status: 'False', reason, message: `${sites.length - waiting.length}/${sites.length} site(s) run their client; ${each}` };
}
