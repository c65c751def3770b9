import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ORDERS, RdpAccountant, epsilonFor, epsilonOfRdp, noiseMultiplierFor } from './accountant.js';
import { logErfc } from './log-math.js';
import { rdpSampledGaussian } from './rdp.js';

/** A_α = E_{z∼N(0,σ²)}[((1 − q) + q·e^{(2z − 1)/(2σ²)})^α] by the trapezoid rule: the definition, computed another way. */
function aByQuadrature(q: number, sigma: number, alpha: number): number {
  const h = 0.0005;
  let total = 0;
  for (let z = -40 * sigma; z < 40 * sigma + 40; z += h) {
    const logMu0 = (-z * z) / (2 * sigma * sigma) - Math.log(sigma * Math.sqrt(2 * Math.PI));
    total += Math.exp(logMu0 + alpha * Math.log(1 - q + q * Math.exp((2 * z - 1) / (2 * sigma * sigma)))) * h;
  }
  return total;
}

const close = (actual: number, expected: number, rtol: number) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rtol * Math.abs(expected));

describe('RDP of the Poisson-subsampled Gaussian', () => {
  // google/differential-privacy, dp_accounting rdp_privacy_accountant_test.py,
  // test_compute_rdp_poisson_sampled_gaussian: q = 0.01, σ = 2.5, 50 steps.
  it.each([
    [1.5, 6.70579741e-4],
    [2.5, 1.0854871e-3],
    [5, 2.18075656e-3],
    [50, 2.38460375e-2],
    [100, 1.67416308e2],
  ])('matches the published value at order %s', (order, expected) => {
    const accountant = new RdpAccountant([order]).compose(0.01, 2.5, 50);
    close(accountant.spent()[0]!, expected, 1e-7);
  });

  it('is infinite at order ∞ and for no noise, zero without sampling, α/(2σ²) without subsampling', () => {
    expect(rdpSampledGaussian(0.01, 2.5, Infinity)).toBe(Infinity);
    expect(rdpSampledGaussian(0.01, 0, 2)).toBe(Infinity);
    expect(rdpSampledGaussian(0, 1, 2)).toBe(0);
    close(rdpSampledGaussian(1, 2.71828, 3.14159), 3.14159 / (2 * 2.71828 ** 2), 1e-12);
  });

  it('equals the defining integral at integer orders', () => {
    for (const [q, sigma, alpha] of [
      [0.01, 2.5, 2],
      [0.1, 1, 7],
      [0.5, 1.3, 12],
    ] as const) {
      close(rdpSampledGaussian(q, sigma, alpha), Math.log(aByQuadrature(q, sigma, alpha)) / (alpha - 1), 1e-6);
    }
  });

  it('bounds the defining integral from above at fractional orders, with little slack', () => {
    for (const [q, sigma, alpha] of [
      [0.01, 2.5, 1.5],
      [0.01, 2.5, 2.5],
      [0.1, 1, 3.7],
      [0.25, 0.8, 10.5],
    ] as const) {
      const exact = Math.log(aByQuadrature(q, sigma, alpha)) / (alpha - 1);
      const ours = rdpSampledGaussian(q, sigma, alpha);
      expect(ours).toBeGreaterThanOrEqual(exact * (1 - 1e-9));
      expect(ours).toBeLessThan(exact * 1.05);
    }
  });

  it('refuses what is not a rate, a multiplier or an order', () => {
    expect(() => rdpSampledGaussian(1.5, 1, 2)).toThrow(/sampling rate/);
    expect(() => rdpSampledGaussian(0.1, -1, 2)).toThrow(/noise multiplier/);
    expect(() => rdpSampledGaussian(0.1, 1, 1)).toThrow(/order/);
  });
});

describe('epsilon for delta', () => {
  it('converts a constant RDP (pure DP) as dp_accounting does', () => {
    // dp_accounting test_compute_epsilon_delta_pure_dp: RDP 1.1 at orders 2..32, δ = 1e-5.
    const orders = Array.from({ length: 31 }, (_, k) => k + 2);
    const { epsilon, order } = epsilonOfRdp(orders, orders.map(() => 1.1), 1e-5);
    close(epsilon, 1.32783806176, 1e-10);
    expect(order).toBe(32);
  });

  it('gives ε = 1 for the Gaussian mechanism calibrated to (1, 1e-6)', () => {
    // dp_accounting test_compute_epsilon_delta_gaussian: σ = 4.530877117 is exactly (1, 1e-6)-DP.
    const fine = Array.from({ length: 99_000 }, (_, i) => 1 + 0.001 * (i + 1));
    close(epsilonFor(1, 4.530877117, 1, 1e-6, fine).epsilon, 1, 1e-6);
    const coarse = epsilonFor(1, 4.530877117, 1, 1e-6).epsilon;
    expect(coarse).toBeGreaterThanOrEqual(1);
    expect(coarse).toBeLessThan(1 + 1e-5);
  });

  it('is tighter than the classic conversion RDP + log(1/δ)/(α − 1) and grows with the rounds', () => {
    const accountant = new RdpAccountant().compose(0.1, 1.1, 100);
    const classic = Math.min(...DEFAULT_ORDERS.map((a, k) => accountant.spent()[k]! + Math.log(1 / 1e-5) / (a - 1)));
    expect(accountant.epsilon(1e-5).epsilon).toBeLessThan(classic);
    expect(accountant.after(0.1, 1.1).epsilon(1e-5).epsilon).toBeGreaterThan(accountant.epsilon(1e-5).epsilon);
    expect(accountant.epsilon(1e-5).epsilon).toBe(epsilonFor(0.1, 1.1, 100, 1e-5).epsilon);
  });

  it('refuses a δ outside (0, 1)', () => {
    expect(() => epsilonFor(0.1, 1, 10, 0)).toThrow(/δ/);
    expect(() => epsilonFor(0.1, 1, 10, 1)).toThrow(/δ/);
  });
});

describe('the noise multiplier for a target epsilon', () => {
  it('finds the smallest σ that meets the target', () => {
    for (const [q, rounds, target] of [
      [0.01, 50, 1],
      [0.1, 100, 3],
      [1, 20, 8],
    ] as const) {
      const sigma = noiseMultiplierFor(q, rounds, 1e-5, target);
      expect(epsilonFor(q, sigma, rounds, 1e-5).epsilon).toBeLessThanOrEqual(target);
      expect(epsilonFor(q, sigma * 0.999, rounds, 1e-5).epsilon).toBeGreaterThan(target);
    }
  });

  it('says so when no multiplier reaches the target', () => {
    expect(() => noiseMultiplierFor(1, 10, 1e-5, -1)).toThrow(/target/);
  });
});

describe('log erfc', () => {
  it('holds its precision far in the tail, where erfc itself underflows', () => {
    close(Math.exp(logErfc(1)), 0.15729920705028513, 1e-13);
    close(Math.exp(logErfc(5)), 1.5374597944280351e-12, 1e-13);
    close(Math.exp(logErfc(-3)), 1.9999779095030015, 1e-14);
    // erfc(x) ≈ e^{−x²}/(x√π)·(1 − 1/(2x²)) for large x.
    close(logErfc(30), -900 - Math.log(30 * Math.sqrt(Math.PI)) + Math.log1p(-1 / 1800 + 3 / (4 * 30 ** 4) - 15 / (8 * 30 ** 6)), 1e-12);
  });
});
