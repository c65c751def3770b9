/**
 * Whom a deleted job still waits for. Its assignments are withdrawn as soon as it is marked for
 * deletion (assignments.ts); each agent then removes the job's client pod and stops reporting the
 * job. The finalizer is released once no site still reports it, except sites that cannot answer:
 *
 * - a site with no Site resource, or a revoked one: its certificates are refused, it cannot report;
 * - a site whose agent is disconnected: its last report (Site status.jobs) is trusted when it no
 *   longer lists the job; when it does, the job waits for the agent to come back for at most
 *   `disconnectedGraceMs` after it was last seen, then goes on without it (the agent removes the
 *   client when it reconnects and finds the job gone from its assignments).
 */
import type { FederatedJob } from '../../api/federatedjob.js';
import type { CacheView, Site, SiteSessions } from '../contracts.js';

export interface HeldBy {
  site: string;
  reason: string;
}

export function sitesHoldingJob(
  job: FederatedJob,
  candidates: string[],
  sites: CacheView<Site>,
  sessions: SiteSessions,
  now: Date,
  disconnectedGraceMs: number,
): HeldBy[] {
  const { namespace, name, uid } = job.metadata;
  const held: HeldBy[] = [];
  for (const site of candidates) {
    const resource = sites.get(site);
    if (!resource || resource.spec.revoked) continue;
    const session = sessions.get(site);
    if (session) {
      const report = session.assignments.find((a) => a.namespace === namespace && a.job === name && a.jobUid === uid);
      if (report && report.phase !== 'Refused') held.push({ site, reason: `its agent still reports the job's client (${report.phase})` });
      continue;
    }
    const lastReport = resource.status?.jobs?.find((j) => j.namespace === namespace && j.name === name);
    if (!lastReport || lastReport.phase === 'Refused') continue;
    const lastSeen = Date.parse(resource.status?.lastSeen ?? '');
    if (Number.isFinite(lastSeen) && now.getTime() - lastSeen < disconnectedGraceMs) {
      held.push({ site, reason: `its agent is disconnected; waiting until ${new Date(lastSeen + disconnectedGraceMs).toISOString()} for it to come back` });
    }
  }
  return held;
}
