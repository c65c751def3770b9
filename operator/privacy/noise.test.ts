import { describe, expect, it, jest } from '@jest/globals';
import { clipFactor, clipInPlace, l2Norm, nextClipNorm, updateNoiseMultiplier } from './clipping.js';
import { GaussianNoise } from './gaussian.js';

/** Φ, the standard normal CDF, from erf's series (good to 1e-12 for |x| < 6). */
function phi(x: number): number {
  const t = Math.abs(x) / Math.SQRT2;
  let term = t;
  let sum = t;
  for (let n = 1; n < 400 && term > 1e-18 * sum; n++) {
    term *= (2 * t * t) / (2 * n + 1);
    sum += term;
  }
  const erf = (2 / Math.sqrt(Math.PI)) * Math.exp(-t * t) * sum;
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

describe('Gaussian noise from node:crypto', () => {
  const n = 200_000;
  const noise = new GaussianNoise();
  const draws = Float64Array.from({ length: n }, () => noise.standard());

  it('has the moments of N(0, 1)', () => {
    const mean = draws.reduce((a, b) => a + b, 0) / n;
    const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    const kurtosis = draws.reduce((a, b) => a + (b - mean) ** 4, 0) / n / variance ** 2;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    expect(Math.abs(kurtosis - 3)).toBeLessThan(0.1);
  });

  it('passes a Kolmogorov–Smirnov test against N(0, 1)', () => {
    const sorted = Float64Array.from(draws).sort();
    let d = 0;
    sorted.forEach((x, i) => {
      const f = phi(x);
      d = Math.max(d, Math.abs(f - i / n), Math.abs(f - (i + 1) / n));
    });
    // The 0.1% critical value of the KS statistic: 1.95/√n.
    expect(d).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it('does not use Math.random, and two samplers never agree', () => {
    const random = jest.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('Math.random used');
    });
    try {
      const a = new Float32Array(64);
      const b = new Float32Array(64);
      new GaussianNoise().addTo(a, 2);
      new GaussianNoise().addTo(b, 2);
      expect(a.some((x, i) => x !== b[i])).toBe(true);
      expect(a.every((x) => x !== 0)).toBe(true);
    } finally {
      random.mockRestore();
    }
  });

  it('scales by its standard deviation and refuses a bad one', () => {
    const values = new Float32Array(100_000).fill(3);
    new GaussianNoise().addTo(values, 0.5);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean - 3)).toBeLessThan(0.01);
    expect(Math.abs(sd - 0.5)).toBeLessThan(0.01);
    expect(() => new GaussianNoise().addTo(values, NaN)).toThrow(/standard deviation/);
  });
});

describe('clipping', () => {
  it('scales an update to the clip norm and leaves a smaller one alone', () => {
    const big = [Float32Array.of(3, 0), Float32Array.of(4)];
    expect(clipInPlace(big, 1)).toBeCloseTo(5, 6);
    expect(l2Norm(big)).toBeCloseTo(1, 6);
    expect([...big[0]!, ...big[1]!].map((x) => +x.toFixed(6))).toEqual([0.6, 0, 0.8]);
    const small = [Float32Array.of(0.3, 0.4)];
    clipInPlace(small, 1);
    expect([...small[0]!]).toEqual([Float32Array.of(0.3)[0], Float32Array.of(0.4)[0]]);
    expect(clipFactor(2, 1)).toBe(0.5);
  });

  it('adapts the clip norm toward the target quantile (Andrew et al. 2021)', () => {
    const s = { targetQuantile: 0.5, learningRate: 0.2, countStddev: 0 };
    // Every update unclipped: the norm is too large, it shrinks; none unclipped: it grows.
    expect(nextClipNorm(1, 1, s)).toBeCloseTo(Math.exp(-0.1), 12);
    expect(nextClipNorm(1, 0, s)).toBeCloseTo(Math.exp(0.1), 12);
    expect(nextClipNorm(1, 0.5, s)).toBe(1);
    // The count's noise takes its share of the multiplier: z⁻² = z_Δ⁻² + (2σ_b)⁻².
    const z = updateNoiseMultiplier(1, 1);
    expect(z ** -2 + 2 ** -2).toBeCloseTo(1, 12);
    expect(() => updateNoiseMultiplier(1, 0.4)).toThrow(/too small/);
  });
});
