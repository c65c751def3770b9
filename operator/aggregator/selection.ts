import { deriveSeed, rng, shuffle } from '../process/random.js';

/**
 * The sites selected for a round's attempt: a seeded draw of sitesPerRound among the job's sites
 * (all of them when unset). A pure function of the job's seed, the round and the attempt, so a
 * restarted aggregator selects the same sites, and a retried round draws afresh.
 */
export function selectSites(sites: readonly string[], sitesPerRound: number | undefined, seed: number, round: number, attempt: number): string[] {
  if (sitesPerRound === undefined || sitesPerRound >= sites.length) return [...sites];
  const drawn = new Set(shuffle([...sites], rng(deriveSeed(seed, 'select', round, attempt))).slice(0, sitesPerRound));
  return sites.filter((s) => drawn.has(s));
}
