import { Seeded, hostileUpdate, meanAndSpread, type Attack } from '../../test/support/attacks.js';
import { aggregateVectors, createRobustRule, squaredDistance, type RobustRule } from './robust-rules.js';

const distance = (a: Float64Array, b: Float64Array) => Math.sqrt(squaredDistance(a, b, a.length));
const norm = (a: Float64Array) => distance(a, new Float64Array(a.length));

/** n − f honest updates around a common direction (norm ~2, spread 0.1 per coordinate), and f copies of the attack. */
function round(attack: Attack, n: number, f: number, seed = 7, d = 30) {
  const random = new Seeded(seed);
  const direction = Float64Array.from({ length: d }, () => random.gaussian() / Math.sqrt(d / 4));
  const honest = Array.from({ length: n - f }, () => direction.map((x) => x + 0.1 * random.gaussian()));
  const hostile = hostileUpdate(attack, honest, n, f, random);
  return { honest, all: [...honest, ...Array.from({ length: f }, () => hostile)], honestMean: meanAndSpread(honest).mean };
}

/** The unweighted mean: FedAvg with every site of the same size. */
const fedAvg = (updates: readonly Float64Array[]) => meanAndSpread(updates).mean;

/**
 * The rules' guarantees, stated deterministically (docs/aggregation.md):
 * - Median (f < n/2) and TrimmedMean (⌊βn⌋ ≥ f) put every coordinate within the honest updates' range
 *   at that coordinate (Yin et al. 2018's argument), so ‖agg − ḡ‖ ≤ ‖max_H − min_H‖ (coordinate-wise span).
 * - Krum and MultiKrum (n > 2f + 2, m ≤ n − f): every picked update is within D·√((n−f−2)/(n−2f−2)) + R of
 *   the honest mean ḡ, D the largest distance between two honest updates and R the largest from one to ḡ
 *   (Blanchard et al. 2017, Lemma 1's argument without the expectation); so is their mean.
 */
function bound(rule: RobustRule, honest: readonly Float64Array[], n: number, f: number): { within: (agg: Float64Array) => boolean; radius: number } {
  const mean = meanAndSpread(honest).mean;
  if (rule.name === 'Median' || rule.name === 'TrimmedMean') {
    const lo = mean.map((_, j) => Math.min(...honest.map((h) => h[j]!)));
    const hi = mean.map((_, j) => Math.max(...honest.map((h) => h[j]!)));
    return { within: (agg) => agg.every((x, j) => x >= lo[j]! - 1e-12 && x <= hi[j]! + 1e-12), radius: distance(hi, lo) };
  }
  const D = Math.max(...honest.flatMap((a) => honest.map((b) => distance(a, b))));
  const R = Math.max(...honest.map((h) => distance(h, mean)));
  const radius = D * Math.sqrt((n - f - 2) / (n - 2 * f - 2)) + R;
  return { within: (agg) => distance(agg, mean) <= radius, radius };
}

const rules = [
  { rule: 'Median' as const },
  { rule: 'TrimmedMean' as const, trimFraction: 0.2 },
  { rule: 'Krum' as const, hostileSites: 2 },
  { rule: 'MultiKrum' as const, hostileSites: 2, selectedUpdates: 4 },
];
const attacks: Attack[] = ['scaled', 'sign-flipped', 'random', 'a little is enough'];

describe('robust rules against f = 2 hostile sites of n = 10', () => {
  const n = 10;
  const f = 2;
  it.each(rules.flatMap((r) => attacks.map((a) => [r.rule, a, r] as const)))('%s keeps the model within its bound of the honest mean under a %s attack', (_name, attack, settings) => {
    const rule = createRobustRule(settings)!;
    const { honest, all, honestMean } = round(attack, n, f);
    const agg = aggregateVectors(rule, all);
    const { within, radius } = bound(rule, honest, n, f);
    expect(within(agg)).toBe(true);
    expect(distance(agg, honestMean)).toBeLessThanOrEqual(radius);
    if (attack !== 'a little is enough') {
      // Where FedAvg is pulled far outside the same bound.
      expect(within(fedAvg(all))).toBe(false);
      expect(distance(fedAvg(all), honestMean)).toBeGreaterThan(2 * radius);
    }
  });

  it('"a little is enough" hides within the honest spread: it moves FedAvg by less than the honest updates differ', () => {
    const { honest, all, honestMean } = round('a little is enough', n, f);
    const D = Math.max(...honest.flatMap((a) => honest.map((b) => distance(a, b))));
    expect(distance(fedAvg(all), honestMean)).toBeLessThan(D);
  });

  it('Krum picks an honest update and MultiKrum m of them, whichever attack', () => {
    for (const attack of attacks.filter((a) => a !== 'a little is enough')) {
      const { all } = round(attack, n, f);
      const distances = new Float64Array(n * n).map((_, k) => squaredDistance(all[Math.floor(k / n)]!, all[k % n]!, all[0]!.length));
      expect(createRobustRule(rules[2])!.pick(n, distances).every((i) => i < n - f)).toBe(true);
      expect(createRobustRule(rules[3])!.pick(n, distances)).toHaveLength(4);
      expect(createRobustRule(rules[3])!.pick(n, distances).every((i) => i < n - f)).toBe(true);
    }
  });
});

describe('exact values', () => {
  const v = (...x: number[]) => Float64Array.from(x);
  it('median, trimmed mean and Krum of small vectors', () => {
    const updates = [v(1, 10), v(2, 20), v(3, 30), v(100, -50), v(4, 40)];
    expect([...aggregateVectors(createRobustRule({ rule: 'Median' })!, updates)]).toEqual([3, 20]);
    expect([...aggregateVectors(createRobustRule({ rule: 'Median' })!, updates.slice(0, 4))]).toEqual([2.5, 15]);
    // ⌊0.2·5⌋ = 1 cut from each end: (2 + 3 + 4) / 3 and (10 + 20 + 30) / 3.
    expect([...aggregateVectors(createRobustRule({ rule: 'TrimmedMean', trimFraction: 0.2 })!, updates)]).toEqual([3, 20]);
    // f = 1: scores over n − f − 2 = 2 neighbours; (2, 20) and (3, 30) tie at 101 + 101 = 202, the lower index wins.
    expect([...aggregateVectors(createRobustRule({ rule: 'Krum', hostileSites: 1 })!, updates)]).toEqual([2, 20]);
  });

  it('a norm bound clips each update before the rule, and alone bounds what f sites can do to the mean', () => {
    const C = 2;
    const { honest, all, honestMean } = round('scaled', 10, 2);
    expect(Math.max(...honest.map(norm))).toBeLessThan(C);
    const clippedMean = fedAvg(all.map((u) => u.map((x) => x * Math.min(1, C / norm(u)))));
    // agg − ḡ = (1/n)·Σ_hostile c_b − (f/n)·ḡ, so ‖agg − ḡ‖ ≤ (f/n)·(C + ‖ḡ‖).
    expect(distance(clippedMean, honestMean)).toBeLessThanOrEqual((2 / 10) * (C + norm(honestMean)));
    expect(distance(fedAvg(all), honestMean)).toBeGreaterThan(10 * (2 / 10) * (C + norm(honestMean)));
    const median = aggregateVectors(createRobustRule({ rule: 'Median' })!, [v(3, 4), v(0, 1), v(0, 2)], 1);
    // (3, 4) has norm 5: clipped to (0.6, 0.8) before the median.
    expect([...median].map((x) => +x.toFixed(12))).toEqual([0, 1]);
  });
});
