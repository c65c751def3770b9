import type { FederatedJobSpec } from '../api/federatedjob.js';

export type RobustSettings = NonNullable<FederatedJobSpec['strategy']['robust']>;
export type RobustRuleName = NonNullable<RobustSettings['rule']>;

/**
 * A robust rule: how a round's n update deltas become one delta, every update weighing the same (a
 * hostile site would state any sample count). The caller feeds it coordinate blocks, so that no
 * update is ever held whole: pick() chooses which updates count (from their pairwise squared
 * distances, for Krum), then combine() turns the picked updates' values of one block into the
 * block of the result.
 */
export interface RobustRule {
  readonly name: RobustRuleName;
  /** Whether pick() needs the n×n squared distances. */
  readonly usesDistances: boolean;
  /** The updates (indices in 0..n−1, ascending) whose coordinates combine() gets. */
  pick(n: number, distances: Float64Array | null): number[];
  /** out[outOffset + j] = the rule's value of coordinate j over the rows (one per picked update), j < length. */
  combine(rows: readonly Float64Array[], length: number, out: Float64Array, outOffset: number): void;
}

const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The sorted values of one coordinate, in a scratch buffer reused from coordinate to coordinate. */
class Column {
  private scratch = new Float64Array(0);

  sorted(rows: readonly Float64Array[], j: number): Float64Array {
    if (this.scratch.length !== rows.length) this.scratch = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) this.scratch[i] = rows[i]![j]!;
    return this.scratch.sort();
  }
}

/** Coordinate-wise median (Yin et al. 2018): the middle value, or the mean of the two middle ones. */
export class Median implements RobustRule {
  readonly name = 'Median';
  readonly usesDistances = false;
  private readonly column = new Column();

  pick(n: number): number[] {
    return all(n);
  }

  combine(rows: readonly Float64Array[], length: number, out: Float64Array, outOffset: number): void {
    const n = rows.length;
    const half = n >> 1;
    for (let j = 0; j < length; j++) {
      const v = this.column.sorted(rows, j);
      out[outOffset + j] = n % 2 === 1 ? v[half]! : (v[half - 1]! + v[half]!) / 2;
    }
  }
}

/** Coordinate-wise trimmed mean (Yin et al. 2018): floor(β·n) values cut from each end, the rest averaged. */
export class TrimmedMean implements RobustRule {
  readonly name = 'TrimmedMean';
  readonly usesDistances = false;
  private readonly column = new Column();

  constructor(readonly trimFraction: number) {}

  /** How many values are cut from each end among n. */
  trimmed(n: number): number {
    return Math.min(Math.floor(this.trimFraction * n), (n - 1) >> 1);
  }

  pick(n: number): number[] {
    return all(n);
  }

  combine(rows: readonly Float64Array[], length: number, out: Float64Array, outOffset: number): void {
    const n = rows.length;
    const k = this.trimmed(n);
    for (let j = 0; j < length; j++) {
      const v = this.column.sorted(rows, j);
      let sum = 0;
      for (let i = k; i < n - k; i++) sum += v[i]!;
      out[outOffset + j] = sum / (n - 2 * k);
    }
  }
}

/**
 * Krum and Multi-Krum (Blanchard et al. 2017): each update's score is the sum of its squared
 * distances to its n − f − 2 nearest others; the m best-scored updates are averaged (Krum: m = 1).
 * Ties go to the lower index, so the result does not depend on anything but the updates.
 */
export class Krum implements RobustRule {
  readonly usesDistances = true;

  constructor(
    readonly name: 'Krum' | 'MultiKrum',
    readonly hostileSites: number,
    readonly selected: number,
  ) {}

  scores(n: number, distances: Float64Array): number[] {
    const neighbours = Math.max(1, n - this.hostileSites - 2);
    return all(n).map((i) => {
      const others = all(n).filter((j) => j !== i).map((j) => distances[i * n + j]!).sort((a, b) => a - b);
      return others.slice(0, neighbours).reduce((s, d) => s + d, 0);
    });
  }

  pick(n: number, distances: Float64Array | null): number[] {
    if (n === 1) return [0];
    const scores = this.scores(n, distances!);
    const best = all(n).sort((a, b) => scores[a]! - scores[b]! || a - b);
    return best.slice(0, Math.min(this.selected, n)).sort((a, b) => a - b);
  }

  combine(rows: readonly Float64Array[], length: number, out: Float64Array, outOffset: number): void {
    const m = rows.length;
    for (let j = 0; j < length; j++) {
      let sum = 0;
      for (let i = 0; i < m; i++) sum += rows[i]![j]!;
      out[outOffset + j] = sum / m;
    }
  }
}

/** The rule a job's spec.strategy.robust names; null when it names only a normBound. */
export function createRobustRule(settings: RobustSettings | undefined): RobustRule | null {
  switch (settings?.rule) {
    case undefined:
      return null;
    case 'Median':
      return new Median();
    case 'TrimmedMean':
      return new TrimmedMean(settings.trimFraction ?? 0);
    case 'Krum':
      return new Krum('Krum', settings.hostileSites ?? 0, 1);
    case 'MultiKrum':
      return new Krum('MultiKrum', settings.hostileSites ?? 0, settings.selectedUpdates ?? 1);
  }
}

/** The factor that brings a delta of L2 norm `norm` within `bound` (1 when it is within, or there is no bound). */
export function clipFactor(norm: number, bound: number | undefined): number {
  return bound !== undefined && norm > bound ? bound / norm : 1;
}

/** The rule over whole vectors in memory, in one block: for tests and for reasoning, not for a round. */
export function aggregateVectors(rule: RobustRule, deltas: readonly Float64Array[], normBound?: number): Float64Array {
  const clipped = deltas.map((d) => {
    const f = clipFactor(Math.sqrt(squaredDistance(d, new Float64Array(d.length), d.length)), normBound);
    return d.map((x) => x * f);
  });
  const n = clipped.length;
  let distances: Float64Array | null = null;
  if (rule.usesDistances) {
    distances = new Float64Array(n * n);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) distances[a * n + b] = squaredDistance(clipped[a]!, clipped[b]!, clipped[a]!.length);
  }
  const rows = rule.pick(n, distances).map((i) => clipped[i]!);
  const out = new Float64Array(deltas[0]!.length);
  rule.combine(rows, out.length, out, 0);
  return out;
}

export function squaredDistance(a: Float64Array, b: Float64Array, length: number): number {
  let s = 0;
  for (let j = 0; j < length; j++) {
    const d = a[j]! - b[j]!;
    s += d * d;
  }
  return s;
}
