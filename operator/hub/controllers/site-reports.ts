/**
 * What each site last reported of each job, so that a site's new report wakes the status of the
 * jobs whose report changed, not of every job the site runs: at a thousand jobs, each report
 * notice (one a second per site while clients start) had the status controller look at all of
 * them, and the operator's work grew with the square of the number of jobs.
 */
import type { AssignmentStatus } from '../../sitelink/assignment.js';

export class SiteReports {
  private readonly heard = new Map<string, Map<string, string>>();

  /** The jobs ("namespace/name") whose report from `site` is new, changed or gone since the last call. */
  changed(site: string, reports: readonly AssignmentStatus[] | undefined): Set<string> {
    const now = new Map((reports ?? []).map((r) => [`${r.namespace}/${r.job}`, JSON.stringify(r)]));
    const before = this.heard.get(site) ?? new Map<string, string>();
    if (now.size > 0) this.heard.set(site, now);
    else this.heard.delete(site);
    const changed = new Set<string>();
    for (const [job, text] of now) if (before.get(job) !== text) changed.add(job);
    for (const job of before.keys()) if (!now.has(job)) changed.add(job);
    return changed;
  }
}
