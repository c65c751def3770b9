/**
 * Whom a deleted job still waits for. Its assignments are withdrawn as soon as it is marked for
 * deletion (assignments.ts); each agent then removes the job's client pod and stops reporting the
 * job. Only the sites the job selected count (a site that merely reports the job's uid does not),
 * and none holds the job past `graceMs` after its deletion began. Within that:
 *
 * - a connected site holds the job while its agent reports the job's client;
 * - a site with no Site resource, or a revoked one, holds nothing: it cannot report;
 * - a site whose agent is disconnected holds the job while its last report of the job (the job's own
 *   status.sites, `reported`) was of its client, for `graceMs` from when it was last heard: when this replica saw its stream end, else the
 *   latest moment its recorded lastSeen allows (lastSeen is written to within
 *   LAST_SEEN_RESOLUTION_MS). The agent removes the client when it reconnects and finds the job gone.
 */
import type { FederatedJob } from '../../api/federatedjob.js';
import type { CacheView, Site, SiteSessions } from '../contracts.js';
import { LAST_SEEN_RESOLUTION_MS } from './site-status.js';

export interface HeldBy {
  site: string;
  reason: string;
}

/** When a job being deleted stops waiting for any site. */
export function cleanupDeadline(job: FederatedJob, graceMs: number): number {
  const since = Date.parse(String(job.metadata.deletionTimestamp ?? ''));
  return (Number.isFinite(since) ? since : Date.now()) + graceMs;
}

export function sitesHoldingJob(
  job: FederatedJob,
  selected: string[],
  sites: CacheView<Site>,
  sessions: SiteSessions,
  now: Date,
  graceMs: number,
): HeldBy[] {
  const { namespace, name, uid } = job.metadata;
  const deadline = cleanupDeadline(job, graceMs);
  if (now.getTime() >= deadline) return [];
  const until = (at: number) => new Date(at).toISOString();
  const held: HeldBy[] = [];
  for (const site of selected) {
    const resource = sites.get(site);
    if (!resource || resource.spec.revoked) continue;
    const session = sessions.get(site);
    if (session) {
      const report = session.assignments.find((a) => a.namespace === namespace && a.job === name && a.jobUid === uid);
      if (report && report.phase !== 'Refused') held.push({ site, reason: `its agent still reports the job's client (${report.phase}); waiting until ${until(deadline)} at most` });
      continue;
    }
    const lastReport = lastReportOf(job, site);
    if (!lastReport || lastReport.phase === 'Refused') continue;
    const lastSeen = Date.parse(resource.status?.lastSeen ?? '');
    const heard = sessions.disconnectedAt(site)?.getTime() ?? (Number.isFinite(lastSeen) ? lastSeen + LAST_SEEN_RESOLUTION_MS : undefined);
    if (heard === undefined) continue;
    const waitUntil = Math.min(heard + graceMs, deadline);
    if (now.getTime() < waitUntil) held.push({ site, reason: `its agent is disconnected; waiting until ${until(waitUntil)} for it to come back` });
  }
  return held;
}

/** What the site last reported of this job (this incarnation: the record is the job's own status). */
export function lastReportOf(job: FederatedJob, site: string): { phase?: string } | undefined {
  return job.status?.sites?.find((s) => s.name === site && s.reported);
}
