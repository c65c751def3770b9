/**
 * The hub's controllers wired to the caches: which events put which keys on which queue, and the
 * workers. Built for one term of leadership and dropped with it. Reconciles never branch on the
 * event that woke them; the routing below only decides who should take a look.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { FederatedJob } from '../../api/federatedjob.js';
import { SITE_LABEL } from '../../api/vocabulary.js';
import type { EventRecorder } from '../../kube/events.js';
import { runWorkers, WorkQueue, type ReconcileResult } from '../../kube/workqueue.js';
import type { Logger } from '../../log.js';
import type { SiteSessions } from '../contracts.js';
import type { JoinTokens } from '../join-tokens.js';
import type { HubPki } from '../pki.js';
import { RevocationPublisher } from '../revocation/revocation-publisher.js';
import type { RevokedSites } from '../revocation/revoked-sites.js';
import { NO_HUB_AUDIT, type HubAuditLog } from '../audit.js';
import { SiteRevocationController } from '../revocation/site-revocation.js';
import { jobKey, JobAssignments } from './assignments.js';
import { FederatedJobStatusController } from './federatedjob-status.js';
import { FederatedJobWorkload } from './federatedjob-workload.js';
import { owningJobKey, type HubCaches } from './hub-caches.js';
import { selectedSites } from './job-sites.js';
import { SiteController } from './site-controller.js';
import { SiteReports } from './site-reports.js';
import { WorkloadRefusals } from './workload-refusals.js';

export interface HubControllersOptions {
  kc: k8s.KubeConfig;
  caches: HubCaches;
  sessions: SiteSessions;
  assignments: JobAssignments;
  pki: HubPki;
  revoked: RevokedSites;
  joinTokens: JoinTokens;
  events: EventRecorder;
  log: Logger;
  registry: Registry;
  /** The hub's audit trail (audit.ts); nothing is recorded without one. */
  audit?: HubAuditLog;
  /** The operator's namespace and image. */
  namespace: string;
  image: string;
  serviceType: 'ClusterIP' | 'LoadBalancer';
  endpointTemplate?: string;
  disconnectedSiteGraceMs: number;
  joinTokenTtlSeconds: number;
}

interface Loop {
  name: string;
  queue: WorkQueue;
  concurrency: number;
  reconcile(key: string): Promise<ReconcileResult>;
}

export class HubControllers {
  readonly workload: FederatedJobWorkload;
  readonly status: FederatedJobStatusController;
  readonly sites: SiteController;
  readonly revocation: SiteRevocationController;
  readonly publisher: RevocationPublisher;
  private readonly refusals = new WorkloadRefusals();
  private readonly reports = new SiteReports();
  private readonly loops: Loop[];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly o: HubControllersOptions) {
    const common = { kc: o.kc, caches: o.caches, sessions: o.sessions, events: o.events };
    this.workload = new FederatedJobWorkload({
      ...common,
      refusals: this.refusals,
      pki: o.pki,
      revocations: o.revoked,
      log: o.log.child({ controller: 'federatedjob-workload' }),
      image: o.image,
      serviceType: o.serviceType,
      endpointTemplate: o.endpointTemplate,
      disconnectedSiteGraceMs: o.disconnectedSiteGraceMs,
    });
    this.status = new FederatedJobStatusController({
      ...common,
      refusals: this.refusals,
      audit: o.audit ?? NO_HUB_AUDIT,
      log: o.log.child({ controller: 'federatedjob-status' }),
      endpointTemplate: o.endpointTemplate,
    });
    this.sites = new SiteController({
      ...common,
      joinTokens: o.joinTokens,
      namespace: o.namespace,
      tokenTtlSeconds: o.joinTokenTtlSeconds,
    });
    this.revocation = new SiteRevocationController({ kc: o.kc, sites: o.caches.sites, revoked: o.revoked, audit: o.audit ?? NO_HUB_AUDIT });
    this.publisher = new RevocationPublisher({ caches: o.caches, revoked: o.revoked, log: o.log.child({ controller: 'revocation-publisher' }) });
    const loop = (name: string, concurrency: number, reconcile: (key: string) => Promise<ReconcileResult>): Loop => ({
      name,
      queue: new WorkQueue(),
      concurrency,
      reconcile,
    });
    // A reconcile mostly waits on the API server, so a few run at once; not many more, or on a
    // loaded API server the leader's own Lease renewal queues behind them and it steps down.
    this.loops = [
      loop('federatedjob-workload', 8, (k) => this.workload.reconcile(k)),
      loop('federatedjob-status', 8, (k) => this.status.reconcile(k)),
      loop('site', 2, (k) => this.sites.reconcile(k)),
      loop('site-revocation', 1, (k) => this.revocation.reconcile(k)),
      loop('revocation-publisher', 4, (k) => this.publisher.reconcile(k)),
    ];
  }

  /** Subscribes to the caches, queues every object once, runs the workers until stop(). */
  async run(): Promise<void> {
    this.route();
    for (const job of this.o.caches.jobs.list()) this.jobs(jobKey(job), true);
    for (const site of this.o.caches.sites.list()) {
      this.queue('site').add(site.metadata.name);
      this.queue('site-revocation').add(site.metadata.name);
    }
    await Promise.all(
      this.loops.map((l) => runWorkers(l.queue, l.concurrency, (k) => l.reconcile(k), { controller: l.name, registry: this.o.registry, logger: this.o.log })),
    );
  }

  /** Stops taking keys and waits for the reconciles in flight. */
  async stop(): Promise<void> {
    this.unsubscribe.splice(0).forEach((u) => u());
    await Promise.all(this.loops.map((l) => l.queue.shutDownWithDrain()));
  }

  private queue(name: 'federatedjob-workload' | 'federatedjob-status' | 'site' | 'site-revocation' | 'revocation-publisher'): WorkQueue {
    return this.loops.find((l) => l.name === name)!.queue;
  }

  /** A job's key to its controllers: the workload one only when something it acts on changed. */
  private jobs(key: string, workload: boolean): void {
    this.queue('federatedjob-status').add(key);
    this.queue('revocation-publisher').add(key);
    if (workload) this.queue('federatedjob-workload').add(key);
  }

  private route(): void {
    const { caches, sessions, assignments } = this.o;
    this.unsubscribe.push(
      caches.jobs.onEvent((type, job, old) => {
        const key = jobKey(job);
        assignments.jobChanged(key);
        if (type !== 'update' || !old) return this.jobs(key, true);
        const specChanged = job.metadata.generation !== old.metadata.generation || job.metadata.deletionTimestamp !== old.metadata.deletionTimestamp;
        // The workload acts on the phase, the endpoint and its finalizer; its own status writes
        // and the status controller's progress updates are not its business.
        const workloadInputs = (j: FederatedJob) => JSON.stringify([j.status?.phase, j.status?.aggregatorEndpoint, j.metadata.finalizers, j.metadata.labels]);
        const workload = specChanged || workloadInputs(job) !== workloadInputs(old);
        if (specChanged || workload) this.jobs(key, workload);
      }),
      // A new list goes to every aggregator, and beside every job's manifest (the workload).
      this.o.revoked.onChange(() => {
        for (const job of caches.jobs.list()) this.jobs(jobKey(job), true);
      }),
      caches.sites.onEvent((_type, site) => {
        this.queue('site').add(site.metadata.name);
        this.queue('site-revocation').add(site.metadata.name);
        assignments.siteChanged(site.metadata.name);
        // Labels may change which sites a selector job runs at.
        for (const job of caches.jobs.list()) if (!job.spec.sites.names || job.spec.sites.names.includes(site.metadata.name)) this.jobs(jobKey(job), true);
      }),
      caches.deployments.onEvent((type, d) => {
        if (type === 'delete') this.workload.deleted(d);
        this.owned(d, true);
      }),
      caches.services.onEvent((type, s) => {
        if (type === 'delete') this.workload.deleted(s);
        this.owned(s, true);
      }),
      caches.pods.onEvent((_t, p) => this.owned(p, false)),
      // The workload's refusals are the status controller's to report.
      this.refusals.onChange((key) => this.jobs(key, false)),
      caches.secrets.onEvent((_t, secret) => {
        const site = secret.metadata?.labels?.[SITE_LABEL];
        if (site && secret.metadata?.namespace === this.o.namespace) this.queue('site').add(site);
        else this.owned(secret, true);
      }),
      sessions.onChange((site) => {
        this.queue('site').add(site);
        assignments.sessionChanged(site);
        // A job's status reads only its own report; a deletion waits on the site being heard at all.
        const changed = this.reports.changed(site, sessions.get(site)?.assignments);
        const all = caches.sites.list();
        for (const job of caches.jobs.list()) {
          if (job.metadata.deletionTimestamp) this.jobs(jobKey(job), true);
          else if (changed.has(jobKey(job)) && selectedSites(job, all).includes(site)) this.queue('federatedjob-status').add(jobKey(job));
        }
      }),
    );
  }

  private owned(obj: { metadata?: { namespace?: string; labels?: Record<string, string> } }, workload: boolean): void {
    const key = owningJobKey(obj);
    if (key && this.o.caches.jobs.get(key)) this.jobs(key, workload);
  }
}
