/**
 * Who masks with whom (SecAgg+, Bell et al. 2020): a k-regular graph over the sites that
 * advertised keys, so each site's work grows with k (about log n) rather than with n. The graph is a
 * Harary graph (each site joined to the k/2 nearest on each side of a ring) over a random order of
 * the sites, drawn from the round's nonce: every site computes the same graph from what it was
 * told, and the aggregator cannot choose the order without also choosing the nonce before the keys.
 */
import { createHmac } from 'node:crypto';
import { contextBytes, type RoundContext } from './params.js';

export class NeighbourGraph {
  /** The sites, sorted by name: a site's share x coordinate is 1 + its index here. */
  readonly sites: readonly string[];
  private readonly adjacent = new Map<string, string[]>();

  constructor(sites: Iterable<string>, degree: number, context: RoundContext) {
    this.sites = [...new Set(sites)].sort();
    const m = this.sites.length;
    const key = contextBytes(context);
    const rank = new Map(this.sites.map((s) => [s, createHmac('sha256', key).update(`ring\0${s}`).digest('hex')]));
    const ring = [...this.sites].sort((a, b) => (rank.get(a)! < rank.get(b)! ? -1 : 1));
    const complete = degree >= m - 1;
    for (const [i, site] of ring.entries()) {
      const near = new Set<string>();
      if (complete) {
        for (const other of ring) if (other !== site) near.add(other);
      } else {
        for (let d = 1; d <= degree / 2; d++) {
          near.add(ring[(i + d) % m]!);
          near.add(ring[(i - d + m) % m]!);
        }
      }
      this.adjacent.set(site, [...near].sort());
    }
  }

  has(site: string): boolean {
    return this.adjacent.has(site);
  }

  neighboursOf(site: string): readonly string[] {
    const near = this.adjacent.get(site);
    if (!near) throw new Error(`site ${site} is not in this round's graph`);
    return near;
  }

  /**
   * The groups of `members` joined by edges between members: survivors' pairwise masks cancel
   * within each group, so each group's sum can be read on its own.
   */
  groupsAmong(members: Set<string>): string[][] {
    const seen = new Set<string>();
    const groups: string[][] = [];
    for (const start of [...members].sort()) {
      if (seen.has(start) || !this.has(start)) continue;
      const group: string[] = [];
      const queue = [start];
      seen.add(start);
      while (queue.length > 0) {
        const site = queue.pop()!;
        group.push(site);
        for (const next of this.neighboursOf(site)) {
          if (members.has(next) && !seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
      }
      groups.push(group.sort());
    }
    return groups;
  }

  /** The x coordinate of the shares a site holds. */
  xOf(site: string): number {
    return this.sites.indexOf(site) + 1;
  }
}

/** A description of the first group of `members` smaller than `threshold`, or undefined when there is none. */
export function smallGroup(graph: NeighbourGraph, members: Set<string>, threshold: number): string | undefined {
  const small = graph.groupsAmong(members).find((g) => g.length < threshold);
  if (!small) return undefined;
  return `a group of ${small.length} site${small.length === 1 ? '' : 's'} (${small.join(', ')}) would have its own sum revealed, fewer than the threshold ${threshold}`;
}
