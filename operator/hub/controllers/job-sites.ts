/**
 * Which sites a FederatedJob selects: the names it lists, or the Sites its label selector matches.
 * A selector is resolved against the Sites the hub knows now, and the aggregator and the clients
 * run the job with that list written into sites.names (the aggregator needs names).
 */
import type { FederatedJob } from '../../api/federatedjob.js';
import type { Site } from '../contracts.js';

type Selector = NonNullable<FederatedJob['spec']['sites']['selector']>;

export function matchesSelector(selector: Selector, labels: Record<string, string> = {}): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok =
      operator === 'In' ? has && values.includes(labels[key]!)
      : operator === 'NotIn' ? !has || !values.includes(labels[key]!)
      : operator === 'Exists' ? has
      : !has;
    if (!ok) return false;
  }
  return true;
}

/** The names of the sites the job selects, sorted. Listed names count whether or not a Site exists. */
export function selectedSites(job: FederatedJob, sites: Site[]): string[] {
  const { names, selector } = job.spec.sites;
  if (names) return [...names].sort();
  if (!selector) return [];
  return sites
    .filter((s) => matchesSelector(selector, s.metadata.labels))
    .map((s) => s.metadata.name)
    .sort();
}

/**
 * The job as its aggregator and clients run it: sites.names is the resolved list, and overrides of
 * sites not selected are dropped (the CRD requires overrides to name listed sites).
 */
export function resolvedJob(job: FederatedJob, sites: string[]): FederatedJob {
  if (job.spec.sites.names) return job;
  const { overrides } = job.spec.sites;
  const kept = overrides?.filter((o) => sites.includes(o.site));
  return {
    ...job,
    spec: { ...job.spec, sites: { names: sites, ...(kept && kept.length > 0 ? { overrides: kept } : {}) } },
  };
}

/** Why the resolved job cannot run yet (too few sites for its quorum), or undefined. */
export function selectionProblem(job: FederatedJob, sites: string[]): string | undefined {
  if (sites.length === 0) return 'the site selector matches no Site';
  if (sites.length < job.spec.minSites) return `the site selector matches ${sites.length} Site(s), fewer than minSites (${job.spec.minSites})`;
  if (job.spec.sitesPerRound !== undefined && sites.length < job.spec.sitesPerRound) {
    return `the site selector matches ${sites.length} Site(s), fewer than sitesPerRound (${job.spec.sitesPerRound})`;
  }
  return undefined;
}
