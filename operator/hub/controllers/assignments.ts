/**
 * Assignments are derived state (docs/architecture.md): what a site should run is computed from the
 * FederatedJob and Site caches and, for a cordoned site, from what its agent reports it runs.
 * Nothing about them is stored. A site is assigned a job while the job exists, is not being
 * deleted, has not finished, has an aggregator address, selects the site, and is of a namespace the
 * Site allows; a revoked site gets nothing; a cordoned site keeps the jobs it already runs and gets
 * no new ones. "Already runs" is the hub's record (each job's own status.sites, `reported`: kept only
 * from reports of jobs the site was given) and the agent's report together: an agent that claims a
 * job's uid does not get the job for it.
 */
import type { FederatedJob } from '../../api/federatedjob.js';
import { isFinal } from '../../api/vocabulary.js';
import type { AssignmentSource, CacheView, Site, SiteSessions } from '../contracts.js';
import type { Assignment } from '../../sitelink/assignment.js';
import { jobManifest } from '../manifests/job-manifest.js';
import { lastReportOf } from './job-cleanup.js';
import { resolvedJob, selectedSites, siteAllows } from './job-sites.js';

export interface JobAssignmentsOptions {
  jobs: CacheView<FederatedJob>;
  sites: CacheView<Site>;
  sessions: SiteSessions;
  /** The image of the sites' client pods when the job names none (the operator's own). */
  defaultImage: string;
}

/** What a site reports of a job it still runs. */
const RUNNING = new Set(['Pending', 'Running']);

export function jobKey(job: FederatedJob): string {
  return `${job.metadata.namespace}/${job.metadata.name}`;
}

/** "namespace/name/uid": one incarnation of a job. */
function incarnation(job: FederatedJob): string {
  return `${jobKey(job)}/${job.metadata.uid}`;
}

/** Code-unit order: deterministic, and far cheaper than localeCompare over a thousand jobs. */
function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Everything a job's assignment at a site is made of: its incarnation, spec (by generation), address and sites. */
function madeOf(job: FederatedJob, sites: string[]): string {
  return `${incarnation(job)}/${job.metadata.generation ?? 0}/${job.status?.aggregatorEndpoint}/${sites.join(',')}`;
}

interface MadeAssignment {
  line: string;
  assignment: Assignment;
}

/** Whether the job should run at its sites now. */
export function isActive(job: FederatedJob): boolean {
  return !job.metadata.deletionTimestamp && !isFinal(job.status?.phase) && Boolean(job.status?.aggregatorEndpoint);
}

export class JobAssignments implements AssignmentSource {
  private readonly listeners = new Set<(sites: string[]) => void>();
  /** The sites each job selected when last looked at, to know whom a deleted job concerned. */
  private readonly jobSites = new Map<string, string[]>();
  /** What each job's assignments were made of when last looked at. */
  private readonly jobViews = new Map<string, string>();
  /** What each site was last told, to notify only on a real change. */
  private readonly published = new Map<string, string>();
  /**
   * Each site's assignments as last made, by job: an unchanged job's is handed out again rather than
   * made anew (its manifest is most of it), and the gateway tells an unchanged one by its identity.
   */
  private readonly made = new Map<string, Map<string, MadeAssignment>>();

  constructor(private readonly options: JobAssignmentsOptions) {}

  assignmentsFor(site: string): Assignment[] {
    const all = this.options.sites.list();
    const before = this.made.get(site);
    const now = new Map<string, MadeAssignment>();
    const assignments = this.given(site).map((job) => {
      const made = this.assignmentAt(job, site, all, before?.get(jobKey(job)));
      now.set(jobKey(job), made);
      return made.assignment;
    });
    this.made.set(site, now);
    return assignments;
  }

  assignmentFor(site: string, key: string): Assignment | undefined {
    const job = this.options.jobs.get(key);
    if (!job || !this.givenTo(site)(job)) return undefined;
    const made = this.assignmentAt(job, site, this.options.sites.list(), this.made.get(site)?.get(key));
    this.made.get(site)?.set(key, made);
    return made.assignment;
  }

  /** The job's assignment at the site: the one made before when what it is made of is unchanged. */
  private assignmentAt(job: FederatedJob, site: string, all: Site[], before: MadeAssignment | undefined): MadeAssignment {
    const sites = selectedSites(job, all);
    const line = madeOf(job, sites);
    if (before?.line === line) return before;
    return { line, assignment: this.assignment(resolvedJob(job, sites), site) };
  }

  /** The jobs the site is given, sorted. */
  private given(site: string): FederatedJob[] {
    return this.jobsWhere(this.givenTo(site));
  }

  /** The jobs that pass the test, in key order. */
  private jobsWhere(test: (job: FederatedJob) => boolean): FederatedJob[] {
    return this.options.jobs
      .list()
      .filter(test)
      .sort((a, b) => byKey(jobKey(a), jobKey(b)));
  }

  /** Whether a job is given to the site: an eligible one; for a cordoned site, one its agent still runs. */
  private givenTo(site: string): (job: FederatedJob) => boolean {
    const eligible = this.eligibleTo(site);
    if (!this.options.sites.get(site)?.spec.cordoned) return eligible;
    const running = new Set(
      (this.options.sessions.get(site)?.assignments ?? []).filter((a) => RUNNING.has(a.phase)).map((a) => `${a.namespace}/${a.job}/${a.jobUid}`),
    );
    return (job) => eligible(job) && running.has(incarnation(job));
  }

  /**
   * What decides the site's set, cheaply: each job given, with what its assignment is made of (its
   * spec by generation, its address, the sites it resolves to). Equal fingerprints, equal sets.
   */
  private fingerprint(site: string): string {
    const all = this.options.sites.list();
    return this.given(site)
      .map((job) => madeOf(job, selectedSites(job, all)))
      .join('\n');
  }

  reportable(site: string): ReadonlySet<string> {
    const siteObject = this.options.sites.get(site);
    if (!siteObject || siteObject.spec.revoked) return new Set();
    const all = this.options.sites.list();
    const ended = this.options.jobs
      .list()
      .filter((job) => !isActive(job) && siteAllows(siteObject, job.metadata.namespace) && selectedSites(job, all).includes(site));
    return new Set([...this.eligible(site), ...ended].map(incarnation));
  }

  /** The active jobs the site may be given, sorted. */
  private eligible(site: string): FederatedJob[] {
    return this.jobsWhere(this.eligibleTo(site));
  }

  /**
   * Whether the site may be given a job: an active one that selects it, of a namespace it allows;
   * for a cordoned site, only one the hub recorded it running.
   */
  private eligibleTo(site: string): (job: FederatedJob) => boolean {
    const siteObject = this.options.sites.get(site);
    if (!siteObject || siteObject.spec.revoked) return () => false;
    const all = this.options.sites.list();
    const recorded = (job: FederatedJob) => RUNNING.has(lastReportOf(job, site)?.phase ?? '');
    return (job) =>
      isActive(job) &&
      siteAllows(siteObject, job.metadata.namespace) &&
      selectedSites(job, all).includes(site) &&
      (!siteObject.spec.cordoned || recorded(job));
  }

  onChange(listener: (sites: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A job was added, changed or deleted: the sites it selects, or selected, may have a new set.
   * A change that moves nothing a site is given by (most are status: progress, reports) costs
   * nothing more: with a thousand jobs, looking at every site's set for each would not.
   */
  jobChanged(key: string): void {
    const job = this.options.jobs.get(key);
    const before = this.jobSites.get(key) ?? [];
    const now = job ? selectedSites(job, this.options.sites.list()) : [];
    const view = job && JSON.stringify([job.metadata.uid, job.metadata.generation, isActive(job), job.status?.aggregatorEndpoint, now]);
    if (view !== undefined && view === this.jobViews.get(key)) return;
    if (job) {
      this.jobSites.set(key, now);
      this.jobViews.set(key, view!);
    } else {
      this.jobSites.delete(key);
      this.jobViews.delete(key);
    }
    this.refresh([...new Set([...before, ...now])]);
  }

  /**
   * A Site was added, changed or deleted: besides its own set, its labels may change which sites a
   * selector job resolves to, and with it every selected site's copy of the job.
   */
  siteChanged(site: string): void {
    this.refresh([...new Set([site, ...this.options.sites.list().map((s) => s.metadata.name)])]);
  }

  /** A site's agent reported: for a cordoned site, what it still runs decides what it keeps. */
  sessionChanged(site: string): void {
    this.refresh([site]);
  }

  /** Notifies the listeners of the sites among `sites` whose set differs from what they were last told. */
  private refresh(sites: string[]): void {
    const changed = sites.filter((site) => {
      const fingerprint = this.fingerprint(site);
      if (this.published.get(site) === fingerprint) return false;
      this.published.set(site, fingerprint);
      return true;
    });
    if (changed.length === 0) return;
    for (const listener of this.listeners) listener(changed);
  }

  private assignment(job: FederatedJob, site: string): Assignment {
    const override = job.spec.sites.overrides?.find((o) => o.site === site);
    const data = { ...job.spec.data, ...override?.data };
    const quantities = (q?: Record<string, number | string>) => Object.fromEntries(Object.entries(q ?? {}).map(([k, v]) => [k, String(v)]));
    return {
      namespace: job.metadata.namespace!,
      job: job.metadata.name,
      jobUid: job.metadata.uid!,
      generation: job.metadata.generation ?? 0,
      aggregatorAddress: job.status!.aggregatorEndpoint!,
      image: job.spec.trainer.image ?? this.options.defaultImage,
      jobManifest: jobManifest(job),
      ...(data.claimName ? { dataClaimName: data.claimName } : {}),
      ...(data.path ? { dataPath: data.path } : {}),
      resourceLimits: quantities(override?.resources?.limits),
      resourceRequests: quantities(override?.resources?.requests),
      nodeSelector: override?.nodeSelector ?? {},
      tolerationsJson: JSON.stringify(override?.tolerations ?? []),
    };
  }
}
