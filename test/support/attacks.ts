/**
 * Hostile updates for the robust-aggregation tests, made from the honest ones as the literature's
 * attackers make them: every hostile site sends the same vector, knowing the honest updates.
 */
export type Attack = 'scaled' | 'sign-flipped' | 'random' | 'a little is enough';

/** A seeded PRNG (mulberry32) with Gaussian draws (Box-Muller): the tests' figures are the same every run. */
export class Seeded {
  constructor(private state: number) {}

  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  gaussian(): number {
    return Math.sqrt(-2 * Math.log(1 - this.uniform())) * Math.cos(2 * Math.PI * this.uniform());
  }
}

/** Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lower = 0.02425;
  const poly = (k: number[], x: number) => k.reduce((s, v) => s * x + v, 0);
  if (p < lower) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - lower) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/** The coordinate-wise mean and standard deviation of some vectors. */
export function meanAndSpread(vectors: readonly Float64Array[]): { mean: Float64Array; std: Float64Array } {
  const d = vectors[0]!.length;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const v of vectors) for (let j = 0; j < d; j++) mean[j]! += v[j]! / vectors.length;
  for (const v of vectors) for (let j = 0; j < d; j++) std[j]! += (v[j]! - mean[j]!) ** 2 / vectors.length;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]!);
  return { mean, std };
}

/**
 * The vector the f hostile sites of n send against these honest updates:
 * scaled: 100 × the honest mean; sign-flipped: −10 × the honest mean; random: N(0, 10²) per coordinate;
 * a little is enough (Baruch et al. 2019): μ − z·σ per coordinate, z = Φ⁻¹((n − s)/n) with
 * s = ⌊n/2 + 1⌋ − f, the shift that still hides within the honest spread.
 */
export function hostileUpdate(attack: Attack, honest: readonly Float64Array[], n: number, f: number, random: Seeded): Float64Array {
  const { mean, std } = meanAndSpread(honest);
  switch (attack) {
    case 'scaled':
      return mean.map((x) => 100 * x);
    case 'sign-flipped':
      return mean.map((x) => -10 * x);
    case 'random':
      return mean.map(() => 10 * random.gaussian());
    case 'a little is enough': {
      const s = Math.floor(n / 2 + 1) - f;
      const z = normalQuantile((n - s) / n);
      return mean.map((x, j) => x - z * std[j]!);
    }
  }
}
