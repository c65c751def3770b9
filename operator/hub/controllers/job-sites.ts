/**
 * Which sites a FederatedJob selects: the names it lists, or the Sites its label selector matches
 * among those that allow the job's namespace (Site spec.allowedNamespaces). A selector is resolved
 * against the Sites the hub knows now, and the aggregator and the clients run the job with that list
 * written into sites.names (the aggregator needs names). A listed Site that does not allow the
 * namespace stays listed: it gets no assignment, and the job's status says why (siteRefusals).
 */
import { MAX_JOB_SITES } from '../../api/bounds.js';
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

/** Whether the Site lets jobs of this hub namespace use it (none when it lists none). */
export function siteAllows(site: Site | undefined, namespace: string | undefined): boolean {
  return Boolean(site && namespace && site.spec.allowedNamespaces?.includes(namespace));
}

/** The names of the sites the job selects, sorted. Listed names count whether or not a Site exists. */
export function selectedSites(job: FederatedJob, sites: Site[]): string[] {
  const { names, selector } = job.spec.sites;
  if (names) return [...names].sort();
  if (!selector) return [];
  return sites
    .filter((s) => matchesSelector(selector, s.metadata.labels) && siteAllows(s, job.metadata.namespace))
    .map((s) => s.metadata.name)
    .sort();
}

/**
 * The hub's own refusals of the job's listed sites: each existing Site that does not allow the job's
 * namespace, with why. Such a site is given no assignment.
 */
export function siteRefusals(job: FederatedJob, sites: (name: string) => Site | undefined): Map<string, string> {
  const refusals = new Map<string, string>();
  const namespace = job.metadata.namespace!;
  for (const name of job.spec.sites.names ?? []) {
    const site = sites(name);
    if (!site || siteAllows(site, namespace)) continue;
    const allowed = site.spec.allowedNamespaces?.length ? site.spec.allowedNamespaces.join(', ') : 'none';
    refusals.set(name, `${notAllowedPrefix(name)} jobs of namespace ${namespace} (its spec.allowedNamespaces: ${allowed}): the hub gives it no assignment`);
  }
  return refusals;
}

const notAllowedPrefix = (site: string) => `Site ${site} does not allow`;

/** Whether a site's message in a job's status is the hub's refusal (siteRefusals), not the site's. */
export function isNotAllowedMessage(site: string, message: string | undefined): boolean {
  return Boolean(message?.startsWith(notAllowedPrefix(site)));
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

/** Why the resolved job cannot run yet (too few sites for its quorum, or too many to list), or undefined. */
export function selectionProblem(job: FederatedJob, sites: string[]): string | undefined {
  const among = `among the Sites that allow namespace ${job.metadata.namespace} (spec.allowedNamespaces)`;
  if (sites.length === 0) return `the site selector matches no Site ${among}`;
  if (sites.length < job.spec.minSites) return `the site selector matches ${sites.length} Site(s) ${among}, fewer than minSites (${job.spec.minSites})`;
  if (job.spec.sitesPerRound !== undefined && sites.length < job.spec.sitesPerRound) {
    return `the site selector matches ${sites.length} Site(s) ${among}, fewer than sitesPerRound (${job.spec.sitesPerRound})`;
  }
  if (sites.length > MAX_JOB_SITES) return `the site selector matches ${sites.length} Site(s), more than a job can list (${MAX_JOB_SITES})`;
  return undefined;
}
