/**
 * What the gateway keeps of a site agent's report: only entries about jobs the hub gave the site
 * (AssignmentSource.reportable), one per job, each message cut to the bound of the status schemas,
 * at most MAX_SITE_JOBS of them. A report of made-up jobs, or one message of megabytes, then cannot
 * reach the Site's or a FederatedJob's status, where it would make every write of it fail.
 */
import { bounded, MAX_AGENT_VERSION, MAX_REPORT_MESSAGE, MAX_SITE_JOBS } from '../../api/bounds.js';
import type { AssignmentStatus } from '../../sitelink/assignment.js';

export function keptReports(statuses: AssignmentStatus[], reportable: ReadonlySet<string>): AssignmentStatus[] {
  const kept: AssignmentStatus[] = [];
  const seen = new Set<string>();
  for (const s of statuses) {
    if (kept.length >= MAX_SITE_JOBS) break;
    const job = `${s.namespace}/${s.job}`;
    if (seen.has(job) || !reportable.has(`${job}/${s.jobUid}`)) continue;
    seen.add(job);
    kept.push({ ...s, message: bounded(s.message, MAX_REPORT_MESSAGE) });
  }
  return kept;
}

/** The version an agent says it runs, as the hub keeps it. */
export function keptVersion(version: string): string {
  return bounded(version, MAX_AGENT_VERSION);
}
