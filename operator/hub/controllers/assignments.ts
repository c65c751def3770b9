/**
 * Assignments are derived state (docs/architecture.md): what a site should run is computed from the
 * FederatedJob and Site caches and, for a cordoned site, from what its agent reports it runs.
 * Nothing about them is stored. A site is assigned a job while the job exists, is not being
 * deleted, has not finished, has an aggregator address, and selects the site; a revoked site gets
 * nothing; a cordoned site keeps the jobs it already runs and gets no new ones.
 */
import type { FederatedJob } from '../../api/federatedjob.js';
import { isFinal } from '../../api/vocabulary.js';
import type { AssignmentSource, CacheView, Site, SiteSessions } from '../contracts.js';
import type { Assignment } from '../../sitelink/assignment.js';
import { jobManifest } from '../manifests/job-manifest.js';
import { resolvedJob, selectedSites } from './job-sites.js';

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

/** Whether the job should run at its sites now. */
export function isActive(job: FederatedJob): boolean {
  return !job.metadata.deletionTimestamp && !isFinal(job.status?.phase) && Boolean(job.status?.aggregatorEndpoint);
}

export class JobAssignments implements AssignmentSource {
  private readonly listeners = new Set<(sites: string[]) => void>();
  /** The sites each job selected when last looked at, to know whom a deleted job concerned. */
  private readonly jobSites = new Map<string, string[]>();
  /** What each site was last told, to notify only on a real change. */
  private readonly published = new Map<string, string>();

  constructor(private readonly options: JobAssignmentsOptions) {}

  assignmentsFor(site: string): Assignment[] {
    const { jobs, sites, sessions } = this.options;
    const siteObject = sites.get(site);
    if (!siteObject || siteObject.spec.revoked) return [];
    const all = sites.list();
    const running = new Set(
      (sessions.get(site)?.assignments ?? []).filter((a) => RUNNING.has(a.phase)).map((a) => `${a.namespace}/${a.job}/${a.jobUid}`),
    );
    return jobs
      .list()
      .filter(isActive)
      .filter((job) => selectedSites(job, all).includes(site))
      .filter((job) => !siteObject.spec.cordoned || running.has(`${jobKey(job)}/${job.metadata.uid}`))
      .sort((a, b) => jobKey(a).localeCompare(jobKey(b)))
      .map((job) => this.assignment(resolvedJob(job, selectedSites(job, all)), site));
  }

  onChange(listener: (sites: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A job was added, changed or deleted: the sites it selects, or selected, may have a new set. */
  jobChanged(key: string): void {
    const job = this.options.jobs.get(key);
    const before = this.jobSites.get(key) ?? [];
    const now = job ? selectedSites(job, this.options.sites.list()) : [];
    if (job) this.jobSites.set(key, now);
    else this.jobSites.delete(key);
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
      const fingerprint = JSON.stringify(this.assignmentsFor(site));
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
