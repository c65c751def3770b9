/**
 * The site agent's controller: makes the agent's namespace run exactly the client pods of the
 * latest assignment set the hub sent, within the site's policy. Level-triggered, one key per hub
 * job ("namespace/job") in a keyed work queue, woken by every assignment set and every event of a
 * pod it made. What exists is read from the cluster (labelled objects), never remembered, so a
 * restarted agent or a reconnect neither duplicates nor orphans anything. Before the hub's first
 * set after a start nothing is removed: a hub outage must not stop the work.
 */
import { X509Certificate } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { JOB_LABEL } from '../api/vocabulary.js';
import { siteUidOfPeer } from '../pki/identity.js';
import type { Logger } from '../log.js';
import type { Assignment, AssignmentStatus, JobRef } from '../sitelink/assignment.js';
import { Informer } from '../kube/informer.js';
import { refOf } from '../kube/resources.js';
import { runWorkers, WorkQueue, type ReconcileResult } from '../kube/workqueue.js';
import { notAfterOf } from '../pki/x509.js';
import { createCsr } from '../pki/csr.js';
import { generateKeyPair } from '../pki/keys.js';
import { podReport } from './client-status.js';
import {
  CERTIFICATE_EXPIRY,
  CERTIFICATE_ISSUED,
  clientObjectNames,
  clientPod,
  clientTlsSecret,
  JOB_NAMESPACE_LABEL,
  JOB_UID_LABEL,
  jobConfigMap,
  jobKeyOf,
  jobKeyOfObject,
  madeFor,
  MANAGED_SELECTOR,
  POD_SPEC_HASH,
  type ConfigMap,
  type JobKey,
  type Pod,
  type Secret,
} from './client-objects.js';
import { aggregatorRoute, clientNetworkPolicy, RESOLVE_EVERY_MS, type Resolve } from './client-network-policy.js';
import { deleteObject, getObject, listObjects } from './kube-objects.js';
import { applyOwned, createOwnedPod, ForeignObject, removeJobObjects } from './job-objects.js';
import type { SitePolicy } from './policy.js';
import { decide, decideAll, type ClientSpec, type PolicyDecision } from './policy-decision.js';
import type { ClientPlacement } from './client-placement.js';
import type { SiteAudit } from './audit.js';

export interface ClientSigner {
  signClientCertificate(namespace: string, job: string, csrPem: string): Promise<{ certificatePem: string; caPem: string }>;
}

export interface ClientReconcilerOptions {
  kc: KubeConfig;
  /** The agent's own namespace, where client pods run. */
  namespace: string;
  site: string;
  /** The uid of the Site the agent is enrolled as: a client certificate of another (an earlier Site of the name) is replaced. */
  siteUid?: string;
  policy: SitePolicy;
  /** The site's data claim, for jobs that name none. */
  defaultDataClaim: string;
  /** When set, every client pod runs this image (a hospital's mirror) instead of the hub's. */
  clientImage?: string;
  /** Where client pods run, beneath each job's own placement. */
  placement?: ClientPlacement;
  /** The site's claim for the clients' audit trails (PodSettings.auditClaim). */
  auditClaim?: string;
  /** The site's claim for the clients' state across pods (PodSettings.stateClaim). */
  stateClaim?: string;
  /** The agent's own audit trail: decisions, certificates, pods. */
  audit?: SiteAudit;
  signer: ClientSigner;
  /** How the aggregators' host names are resolved for the clients' NetworkPolicies (DNS by default). */
  resolve?: Resolve;
  /** Called with the complete status whenever it changed. */
  onStatus(statuses: AssignmentStatus[]): void;
  log: Logger;
}

/** Renew a client certificate at 2/3 of its life. */
const RENEW_AT_FRACTION = 2 / 3;
/** The least time between two reports of the agent's status to the hub. */
export const REPORT_INTERVAL_MS = 250;
/** The queue key that looks for objects of jobs no longer assigned. */
const SWEEP = 'sweep';

export class ClientReconciler {
  private readonly pods: Informer<Pod>;
  private readonly queue = new WorkQueue({ baseDelayMs: 500, maxDelayMs: 60_000 });
  /** Undefined until the hub's first set: until then nothing is removed. */
  private assignments: Map<JobKey, Assignment> | undefined;
  private readonly statuses = new Map<JobKey, AssignmentStatus>();
  /** Each assignment's own policy decision, while the assignment object lives (unchanged ones are kept across sets). */
  private readonly decided = new WeakMap<Assignment, PolicyDecision>();
  private reported = '';
  private lastReportAt = 0;
  private reportTimer: NodeJS.Timeout | undefined;
  private workers: Promise<void> | undefined;

  constructor(private readonly options: ClientReconcilerOptions) {
    this.pods = new Informer<Pod>(
      options.kc,
      { group: '', version: 'v1', plural: 'pods', namespace: options.namespace, labelSelector: MANAGED_SELECTOR },
      { logger: options.log },
    );
  }

  /** Starts watching pods; resolves once the pod cache is filled (so the first hello says what runs). */
  async start(): Promise<void> {
    this.pods.onEvent((_type, pod) => {
      const key = jobKeyOfObject(pod);
      if (key) this.queue.add(key);
    });
    await this.pods.start();
    // Each job's pass waits on the site's API server and the hub (its certificate): several at once.
    this.workers = runWorkers(this.queue, 4, (key) => this.reconcile(key), { controller: 'site-agent', logger: this.options.log });
  }

  async stop(): Promise<void> {
    await this.queue.shutDownWithDrain();
    this.pods.stop();
    await this.workers;
    clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
  }

  /**
   * The latest complete set from the hub. Only the jobs it changes are looked at (a new, changed
   * or withdrawn assignment, or one with no status yet): each set is complete, and with a thousand
   * jobs a pass over all of them per set would be the agent's whole work. The first set, and one
   * that withdraws a job, also sweeps the namespace for objects of jobs no longer assigned.
   */
  setAssignments(assignments: Assignment[]): void {
    const previous = this.assignments;
    this.assignments = new Map(assignments.map((a) => [jobKeyOf(a), this.withImage(a)]));
    const before = (key: JobKey) => previous?.get(key);
    let withdrawn = previous === undefined;
    for (const [key, a] of this.assignments) {
      const old = before(key);
      const same = old !== undefined && JSON.stringify(old) === JSON.stringify(a);
      // The same assignment keeps its object, and with it its policy decision.
      if (same) this.assignments.set(key, old);
      if (!same || !this.statuses.has(key)) this.queue.add(key);
    }
    for (const key of new Set([...(previous?.keys() ?? []), ...this.statuses.keys()])) {
      if (this.assignments.has(key)) continue;
      withdrawn = true;
      this.queue.add(key);
    }
    if (withdrawn) this.queue.add(SWEEP);
  }

  /**
   * What changed since the hub's last set or changes on the stream: each changed assignment
   * replaces its job's, each withdrawn job is removed, and only those jobs are looked at (a
   * withdrawal also sweeps). The hub sends changes only after a complete set on the same stream;
   * changes before any set (which the hub never sends) are ignored, as nothing is known to apply
   * them to.
   */
  changeAssignments(changed: Assignment[], withdrawn: JobRef[]): void {
    if (!this.assignments) {
      this.options.log.warn('assignment changes before any complete set were ignored', { site: this.options.site });
      return;
    }
    for (const a of changed) {
      const key = jobKeyOf(a);
      this.assignments.set(key, this.withImage(a));
      this.queue.add(key);
    }
    for (const ref of withdrawn) {
      const key = jobKeyOf(ref);
      this.assignments.delete(key);
      this.queue.add(key);
    }
    if (withdrawn.length > 0) this.queue.add(SWEEP);
  }

  /** The assignment as this site runs it: with the hospital's mirror image, when it has one. */
  private withImage(a: Assignment): Assignment {
    const image = this.options.clientImage;
    return image ? { ...a, image } : a;
  }

  /**
   * What the agent runs now. Before the hub's first set it is read from the pods themselves, so a
   * restarted agent tells the hub at once what it still runs.
   */
  currentStatus(): AssignmentStatus[] {
    if (this.assignments) return [...this.statuses.values()].sort(byJob);
    return this.pods
      .list()
      .filter((pod) => jobKeyOfObject(pod))
      .map((pod) => {
        const labels = pod.metadata!.labels!;
        return { namespace: labels[JOB_NAMESPACE_LABEL]!, job: labels[JOB_LABEL]!, jobUid: labels[JOB_UID_LABEL] ?? '', ...podReport(pod) };
      })
      .sort(byJob);
  }

  private async reconcile(key: string): Promise<ReconcileResult> {
    if (!this.assignments) return;
    if (key === SWEEP) return this.sweep();
    const assignment = this.assignments.get(key);
    const decision = assignment && this.decisionOf(key, assignment);
    const { audit } = this.options;
    if (assignment && decision) await audit?.decision(assignment, decision).catch(() => undefined);
    if (!assignment || !decision?.allowed) {
      const gone = await removeJobObjects(this.options.kc, this.options.namespace, key);
      if (gone) await audit?.removed(key).catch(() => undefined);
      if (assignment && decision && !decision.allowed) this.setStatus(key, { ...identityOf(assignment), phase: 'Refused', message: decision.reason });
      else this.setStatus(key, undefined);
      // A pod's deletion event brings the key back; the look again is for a pod that lingers.
      return gone ? undefined : { requeueAfterMs: 2_000 };
    }
    try {
      const { kc, namespace } = this.options;
      await applyOwned(kc, key, jobConfigMap(assignment, namespace, decision.jobFile));
      const route = await aggregatorRoute(assignment.aggregatorAddress, this.options.resolve);
      if (route.problem) this.options.log.warn('the client can reach no aggregator address', { site: this.options.site, namespace: assignment.namespace, job: assignment.job, problem: route.problem });
      // Before the pod: the pod never runs without its NetworkPolicy.
      await applyOwned(kc, key, clientNetworkPolicy(assignment, namespace, route));
      const renewInMs = await this.ensureCertificate(key, assignment);
      const pod = await this.ensurePod(key, assignment, decision);
      this.setStatus(key, { ...identityOf(assignment), ...podReport(pod) });
      return { requeueAfterMs: Math.max(Math.min(renewInMs, RESOLVE_EVERY_MS), 1_000) };
    } catch (err) {
      const message = (err as Error).message;
      this.setStatus(key, { ...identityOf(assignment), phase: 'Pending', message });
      throw err;
    }
  }

  /**
   * The policy's decision of one assignment. With maxConcurrentJobs it depends on the whole set (jobs
   * that have a pod keep their place within the limit); without, on the assignment alone, and a
   * thousand jobs then cost no pass over the set for each.
   */
  private decisionOf(key: JobKey, assignment: Assignment): PolicyDecision | undefined {
    const { policy, defaultDataClaim } = this.options;
    if (policy.maxConcurrentJobs === undefined) {
      const decision = this.decided.get(assignment) ?? decide(policy, assignment, { defaultDataClaim });
      this.decided.set(assignment, decision);
      return decision;
    }
    const started = new Set(this.pods.list().map(jobKeyOfObject).filter((k): k is string => k !== undefined));
    return decideAll(policy, [...this.assignments!.values()], started, { defaultDataClaim }, this.decided).get(key);
  }

  /** Makes sure the pod's certificate is there, for this incarnation of the job and not due; returns when it is due. */
  private async ensureCertificate(key: JobKey, a: Assignment): Promise<number> {
    const { kc, namespace, site, signer } = this.options;
    const names = clientObjectNames(a);
    const secret = await getObject<Secret>(kc, { apiVersion: 'v1', kind: 'Secret', namespace, name: names.secret });
    if (secret && !madeFor(secret, key)) throw new ForeignObject(secret);
    const dueAt = renewalDue(secret);
    const complete = ['ca.crt', 'tls.crt', 'tls.key'].every((k) => secret?.data?.[k]);
    const ours = complete && (this.options.siteUid === undefined || siteUidOf(secret) === this.options.siteUid);
    if (secret && ours && secret.metadata?.labels?.[JOB_UID_LABEL] === a.jobUid && dueAt > Date.now()) return dueAt - Date.now();

    const keyPair = await generateKeyPair();
    const csr = await createCsr({ role: 'client', namespace: a.namespace, job: a.job, site }, keyPair);
    const signed = await signer.signClientCertificate(a.namespace, a.job, csr);
    const issuedAt = new Date();
    const notAfter = notAfterOf(signed.certificatePem);
    const tls = clientTlsSecret(a, namespace, { keyPem: keyPair.privateKeyPem, certificatePem: signed.certificatePem, caPem: signed.caPem, issuedAt, notAfter });
    await applyOwned(kc, key, tls, secret ?? null);
    this.options.log.info('client certificate issued', { site, namespace: a.namespace, job: a.job, notAfter: notAfter.toISOString() });
    await this.options.audit?.certificateIssued(a, notAfter, new X509Certificate(signed.certificatePem).fingerprint256).catch(() => undefined);
    return (notAfter.getTime() - issuedAt.getTime()) * RENEW_AT_FRACTION;
  }

  /** The pod as it is (creating it if missing; replacing it if made from other inputs). */
  private async ensurePod(key: JobKey, a: Assignment, client: ClientSpec): Promise<Pod | undefined> {
    const { kc, namespace, site, placement, auditClaim, stateClaim } = this.options;
    const desired = clientPod(a, { site, namespace, client, ...(placement ? { placement } : {}), ...(auditClaim ? { auditClaim } : {}), ...(stateClaim ? { stateClaim } : {}) });
    const existing = this.pods.get(`${namespace}/${desired.metadata!.name}`);
    if (existing && !madeFor(existing, key)) throw new ForeignObject(existing);
    if (existing && existing.metadata?.annotations?.[POD_SPEC_HASH] !== desired.metadata!.annotations![POD_SPEC_HASH]) {
      // A pod's spec cannot change: replace it. Its deletion event brings this key back.
      if (!existing.metadata?.deletionTimestamp) {
        this.options.log.info('replacing the client pod', { site, namespace: a.namespace, job: a.job });
        await deleteObject(kc, refOf(desired), existing.metadata?.uid);
      }
      return existing;
    }
    if (existing) return existing;
    await this.options.audit?.podCreating(a, desired.metadata!.name!, a.image).catch(() => undefined);
    // Reported as created, not as missing: a report of "creating" then one of the new pod was two
    // reports, and two status writes at the hub, for every job.
    const { pod, created } = await createOwnedPod(kc, key, desired);
    if (created) this.options.log.info('client pod created', { site, namespace: a.namespace, job: a.job, pod: desired.metadata!.name });
    return pod;
  }

  /**
   * Queues every job that has objects here, so that those no longer assigned are removed, and
   * removes what an assigned job has under names it no longer uses (an older agent's).
   */
  private async sweep(): Promise<void> {
    const { kc, namespace } = this.options;
    const [secrets, configMaps, policies] = await Promise.all([
      listObjects<Secret>(kc, { group: '', version: 'v1', plural: 'secrets', namespace }, MANAGED_SELECTOR),
      listObjects<ConfigMap>(kc, { group: '', version: 'v1', plural: 'configmaps', namespace }, MANAGED_SELECTOR),
      listObjects<ConfigMap>(kc, { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespace }, MANAGED_SELECTOR),
    ]);
    const stale = new Set<JobKey>();
    for (const obj of [...this.pods.list(), ...secrets, ...configMaps, ...policies]) {
      const key = jobKeyOfObject(obj);
      if (!key) continue;
      const assignment = this.assignments?.get(key);
      if (!assignment) this.queue.add(key);
      else if (!Object.values(clientObjectNames(assignment)).includes(obj.metadata!.name!)) stale.add(key);
    }
    for (const key of stale) {
      const current = new Set(Object.values(clientObjectNames(this.assignments!.get(key)!)));
      await removeJobObjects(kc, namespace, key, current);
    }
  }

  /**
   * Records a job's status; the complete status goes to the hub at most once per REPORT_INTERVAL_MS
   * (the latest), so that a thousand pods starting make a few reports, not a thousand.
   */
  private setStatus(key: JobKey, status: AssignmentStatus | undefined): void {
    const old = this.statuses.get(key);
    if (status) this.statuses.set(key, status);
    else this.statuses.delete(key);
    if (JSON.stringify(old) === JSON.stringify(status) || this.reportTimer) return;
    const wait = this.lastReportAt + REPORT_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.report();
    this.reportTimer = setTimeout(() => this.report(), wait);
  }

  private report(): void {
    clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    this.lastReportAt = Date.now();
    const statuses = this.currentStatus();
    const text = JSON.stringify(statuses);
    if (text === this.reported) return;
    this.reported = text;
    this.options.onStatus(statuses);
  }
}

/** By job, in code-unit order: a thousand statuses sorted at every report, localeCompare would be most of it. */
function byJob(a: AssignmentStatus, b: AssignmentStatus): number {
  const [x, y] = [jobKeyOf(a), jobKeyOf(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

function identityOf(a: Assignment): Pick<AssignmentStatus, 'namespace' | 'job' | 'jobUid'> {
  return { namespace: a.namespace, job: a.job, jobUid: a.jobUid };
}

/** The Site uid the Secret's certificate names, if it can be read. */
function siteUidOf(secret: Secret | undefined): string | undefined {
  try {
    return siteUidOfPeer(new X509Certificate(Buffer.from(secret?.data?.['tls.crt'] ?? '', 'base64')));
  } catch {
    return undefined;
  }
}

/** When the Secret's certificate is due for renewal (0 when unknown: renew now). */
function renewalDue(secret: Secret | undefined): number {
  const issued = Date.parse(secret?.metadata?.annotations?.[CERTIFICATE_ISSUED] ?? '');
  const expiry = Date.parse(secret?.metadata?.annotations?.[CERTIFICATE_EXPIRY] ?? '');
  if (Number.isNaN(issued) || Number.isNaN(expiry)) return 0;
  return issued + (expiry - issued) * RENEW_AT_FRACTION;
}
