/**
 * Holds a site's trail against the job's: every update the site recorded as accepted must be in the
 * aggregator's trail as accepted from that site, with the same round and SHA-256, and the other way
 * round. Two parties wrote them, so neither can rewrite what was exchanged without the other's
 * record showing it.
 */
export interface CrossCheck {
  site: string;
  /** Accepted updates both trails record alike. */
  matched: number;
  /** "kind/round/attempt sha256" the site says the aggregator accepted, which the job's trail lacks. */
  missingFromJob: string[];
  /** The same, the other way: accepted from the site by the aggregator, unknown to the site's trail. */
  missingFromSite: string[];
}

type Line = Record<string, unknown>;

const parse = (text: string): Line[] => text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Line);
const key = (e: Line) => `${String(e.kind)}/${String(e.round)}/${String(e.attempt)} ${String(e.sha256)}`;

export function crossCheck(jobTrail: string, siteTrail: string, site: string): CrossCheck {
  // In order: an update the aggregator recorded as lost in a crash (before it was durable) no longer counts as accepted.
  const atJob = new Set<string>();
  for (const e of parse(jobTrail)) {
    if (e.site !== site) continue;
    if (e.event === 'update-accepted') atJob.add(key(e));
    else if (e.event === 'update-lost') atJob.delete(key(e));
  }
  const atSite = new Set(parse(siteTrail).filter((e) => e.event === 'update-accepted').map(key));
  const missingFromJob = [...atSite].filter((k) => !atJob.has(k));
  const missingFromSite = [...atJob].filter((k) => !atSite.has(k));
  return { site, matched: atSite.size - missingFromJob.length, missingFromJob, missingFromSite };
}
