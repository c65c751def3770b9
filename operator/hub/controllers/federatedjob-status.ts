/**
 * FederatedJob status: observes the aggregator (its Deployment, its pod, its /status report) and
 * the sites (their sessions), computes the status in memory (job-status.ts) and writes it through
 * the status subresource once per pass, only when it changed; Events mark the milestones. It is
 * also where what the API server refused of the job's objects reaches the user: the workload's
 * refused writes (workload-refusals.ts) and the aggregator pods its ReplicaSet could not create.
 * While the job runs it looks again every POLL_MS. A job's status is written at most once per
 * MIN_WRITE_INTERVAL_MS, the latest state: the sites' reports of a job arrive one by one, and at a
 * thousand jobs a write for each was a third of the hub's writes. A new job's first status waits for
 * its Service's address, which the workload is making at the same moment (up to
 * FIRST_STATUS_MAX_WAIT_MS for the Service, FIRST_STATUS_GRACE_MS for a load balancer's address),
 * rather than being written once without the address and again with it. Any change waits SETTLE_MS
 * before it is written, so that what changes with it (the other sites' reports) goes in the same write.
 */
import type * as k8s from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { isFinal, Reason } from '../../api/vocabulary.js';
import { applyStatus } from '../../kube/apply.js';
import { equalStatus } from '../../kube/conditions.js';
import type { EventRecorder } from '../../kube/events.js';
import { describeRefusal } from '../../kube/refusal.js';
import type { ReconcileResult } from '../../kube/workqueue.js';
import type { Logger } from '../../log.js';
import type { HubAuditLog } from '../audit.js';
import type { SiteSessions } from '../contracts.js';
import type { AssignmentStatus } from '../../sitelink/assignment.js';
import { FIELD_MANAGER, jobNameProblem, jobObjectNames, METRICS_PORT } from '../manifests/names.js';
import { aggregatorEndpoint } from './aggregator-endpoint.js';
import { fetchAggregatorReport, type AggregatorReport } from './aggregator-report.js';
import { aggregatorMessage, isAvailable, podsRefused } from './aggregator-workload.js';
import { aggregatorPods, type HubCaches } from './hub-caches.js';
import { milestones } from './job-milestones.js';
import { selectedSites, selectionProblem, siteRefusals as hubSiteRefusals } from './job-sites.js';
import { jobStatus, type JobObservation } from './job-status.js';
import type { WorkloadRefusals } from './workload-refusals.js';

export interface StatusOptions {
  kc: k8s.KubeConfig;
  caches: HubCaches;
  sessions: SiteSessions;
  events: EventRecorder;
  /** A job's start and end are recorded there before its status says so. */
  audit: HubAuditLog;
  /** What the workload controller's writes were refused. */
  refusals: WorkloadRefusals;
  log: Logger;
  endpointTemplate?: string;
  /** Reads an aggregator's report at host:port (its pod IP and metrics port). */
  fetchReport?: (hostPort: string) => Promise<AggregatorReport>;
}

export const POLL_MS = 2_000;
export const MIN_WRITE_INTERVAL_MS = 2_000;
/**
 * A change is written once it is this old, with whatever else changed meanwhile: a job's sites
 * report one after the other, and a write for the first site's report and another for the second's,
 * a second later, made a third status write for most jobs at a thousand.
 */
export const SETTLE_MS = 1_000;
export const FIRST_STATUS_GRACE_MS = 3_000;
/** How long a new job's first status waits for the workload to make its Service at all. */
export const FIRST_STATUS_MAX_WAIT_MS = 60_000;

export class FederatedJobStatusController {
  /** When each job's status was last written by this process. */
  private readonly written = new Map<string, number>();
  /**
   * When this process first saw each job's status differ from what it would write, until it writes
   * it. For a job with no status yet, that is when this process first saw the job.
   */
  private readonly changedAt = new Map<string, number>();

  constructor(private readonly o: StatusOptions) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const job = this.o.caches.jobs.get(key);
    if (!job || job.metadata.deletionTimestamp) {
      this.written.delete(key);
      this.changedAt.delete(key);
      return;
    }
    const observation = await this.observe(job);
    const next = jobStatus(observation);
    if (equalStatus(job.status ?? {}, next)) {
      this.changedAt.delete(key);
      return this.requeue(next.phase);
    }
    const now = Date.now();
    const changed = this.changedAt.get(key) ?? this.changedAt.set(key, now).get(key)!;
    if (now - changed < SETTLE_MS) return { requeueAfterMs: changed + SETTLE_MS - now };
    if (!job.status && observation.blocked?.reason === Reason.WaitingForAddress) {
      // Until the workload has made the Service (its event brings the job back), however long a
      // loaded API server makes that take; then a load balancer's grace for its address.
      const made = this.o.caches.services.get(`${job.metadata.namespace}/${jobObjectNames(job.metadata.name).aggregator}`);
      const left = changed + (made ? FIRST_STATUS_GRACE_MS : FIRST_STATUS_MAX_WAIT_MS) - now;
      if (left > 0) return { requeueAfterMs: left };
    }
    const wait = (this.written.get(key) ?? 0) + MIN_WRITE_INTERVAL_MS - now;
    if (wait > 0) return { requeueAfterMs: wait };
    this.written.set(key, now);
    this.changedAt.delete(key);
    await this.o.audit.jobStatus(job, next);
    await applyStatus(
      this.o.kc,
      { apiVersion: job.apiVersion, kind: job.kind, metadata: { name: job.metadata.name, namespace: job.metadata.namespace }, status: next },
      { fieldManager: FIELD_MANAGER },
    );
    for (const m of milestones(job.status, next, job.spec.rounds)) void this.o.events.event(job, m.type, m.reason, m.message);
    return this.requeue(next.phase);
  }

  private requeue(phase: string | undefined): ReconcileResult {
    return phase === 'Running' ? { requeueAfterMs: POLL_MS } : undefined;
  }

  private async observe(job: FederatedJob): Promise<JobObservation> {
    const ns = job.metadata.namespace!;
    const names = jobObjectNames(job.metadata.name);
    const sites = selectedSites(job, this.o.caches.sites.list());
    const endpoint = aggregatorEndpoint(job, this.o.caches.services.get(`${ns}/${names.aggregator}`), this.o.endpointTemplate);
    const deployment = this.o.caches.deployments.get(`${ns}/${names.aggregator}`);
    const pod = aggregatorPods(this.o.caches.pods, job)[0];
    const siteRefusals = hubSiteRefusals(job, (name) => this.o.caches.sites.get(name));
    const base = { job, now: new Date(), sites, endpoint, siteReports: this.siteReports(job, sites), siteRefusals, checkpointClaim: names.checkpoints };

    const nameProblem = jobNameProblem(job.metadata.name);
    if (nameProblem) return { ...base, blocked: { reason: Reason.InvalidName, message: nameProblem, final: true }, aggregator: { available: false } };
    const selection = job.spec.sites.names ? undefined : selectionProblem(job, sites);
    if (selection) return { ...base, blocked: { reason: Reason.WaitingForSites, message: selection, final: false }, aggregator: { available: false } };
    const refusal = this.o.refusals.get(`${ns}/${job.metadata.name}`, job.metadata.uid);
    const refused = refusal ? describeRefusal(refusal) : podsRefused(deployment);
    const conflict = this.o.refusals.conflict(`${ns}/${job.metadata.name}`, job.metadata.uid);
    // A refused Service, or someone else's of its name, has no address to wait for.
    if (!endpoint && !refused && !conflict) {
      const message = 'waiting for the load balancer to give the aggregator Service an address';
      return { ...base, blocked: { reason: Reason.WaitingForAddress, message, final: false }, aggregator: { available: false } };
    }
    const aggregator = { available: isAvailable(deployment), message: aggregatorMessage(pod) };
    let report: AggregatorReport | undefined;
    const podIP = pod?.status?.phase === 'Running' ? pod.status.podIP : undefined;
    if (podIP && !isFinal(job.status?.phase)) {
      const fetch = this.o.fetchReport ?? fetchAggregatorReport;
      report = await fetch(`${podIP}:${METRICS_PORT}`)
        .then((r) => {
          if (r.job === job.metadata.name && r.namespace === ns) return r;
          throw new Error(`the aggregator at ${podIP} serves ${r.namespace}/${r.job}`);
        })
        .catch((err: Error) => {
          this.o.log.debug('aggregator report not read', { job: job.metadata.name, namespace: ns, error: err.message });
          return undefined;
        });
    }
    return { ...base, aggregator, ...(refused ? { refused } : {}), ...(conflict ? { conflict } : {}), ...(report ? { report } : {}) };
  }

  private siteReports(job: FederatedJob, sites: string[]): Map<string, AssignmentStatus> {
    const reports = new Map<string, AssignmentStatus>();
    for (const site of sites) {
      const report = this.o.sessions.reportOf(site, `${job.metadata.namespace}/${job.metadata.name}`);
      if (report && report.jobUid === job.metadata.uid) reports.set(site, report);
    }
    return reports;
  }
}
