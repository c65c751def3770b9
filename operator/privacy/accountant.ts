import { rdpSampledGaussian } from './rdp.js';

/**
 * The orders at which RDP is tracked: fine steps near 1 (where small budgets are tightest), the
 * integers up to 63, then a few large ones for tiny δ (the grid Google's dp_accounting uses).
 */
export const DEFAULT_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, k) => 1 + (k + 1) / 10),
  ...Array.from({ length: 53 }, (_, k) => 11 + k),
  128,
  256,
  512,
  1024,
];

export interface Epsilon {
  epsilon: number;
  /** The RDP order that gave the tightest bound. */
  order: number;
}

/**
 * (ε, δ) from RDP at several orders, with the conversion of Balle, Barthe, Gaboardi, Hsu and Sato
 * 2020 ("Hypothesis testing interpretations and Rényi differential privacy", Theorem 21), the same
 * as Canonne, Kamath and Steinke 2020 (Proposition 12):
 *   ε = RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1),
 * minimised over the orders. It is tighter than Mironov's ε = RDP(α) + log(1/δ)/(α − 1) at every α.
 */
export function epsilonOfRdp(orders: readonly number[], rdp: readonly number[], delta: number): Epsilon {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`δ must be in (0, 1), not ${delta}`);
  if (orders.length !== rdp.length) throw new RangeError('one RDP value per order');
  let best: Epsilon = { epsilon: Infinity, order: NaN };
  orders.forEach((alpha, k) => {
    const r = rdp[k]!;
    if (r < 0) throw new RangeError(`RDP must be ≥ 0, not ${r} at order ${alpha}`);
    if (!(alpha > 1) || !Number.isFinite(alpha) || !Number.isFinite(r)) return;
    const epsilon = Math.max(0, r + Math.log1p(-1 / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1));
    if (epsilon < best.epsilon) best = { epsilon, order: alpha };
  });
  return best;
}

/**
 * The privacy spent by a job: the RDP of every round, composed (RDP adds up across rounds, at each
 * order). A round with Poisson sampling rate q and noise multiplier σ adds rdpSampledGaussian(q, σ).
 */
export class RdpAccountant {
  private readonly rdp: number[];

  constructor(
    readonly orders: readonly number[] = DEFAULT_ORDERS,
    rdp?: readonly number[],
  ) {
    this.rdp = rdp ? [...rdp] : orders.map(() => 0);
    if (this.rdp.length !== orders.length) throw new RangeError('one RDP value per order');
  }

  /** Adds `steps` rounds of the subsampled Gaussian mechanism. */
  compose(q: number, sigma: number, steps = 1): this {
    if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`steps must be a whole number ≥ 0, not ${steps}`);
    this.orders.forEach((alpha, k) => {
      this.rdp[k]! += steps * rdpSampledGaussian(q, sigma, alpha);
    });
    return this;
  }

  /** RDP so far, one value per order. */
  spent(): readonly number[] {
    return this.rdp;
  }

  epsilon(delta: number): Epsilon {
    return epsilonOfRdp(this.orders, this.rdp, delta);
  }

  /** The accountant after `steps` more rounds, this one unchanged: for "would the next round exceed the budget?". */
  after(q: number, sigma: number, steps = 1): RdpAccountant {
    return new RdpAccountant(this.orders, this.rdp).compose(q, sigma, steps);
  }
}

/** ε after `rounds` rounds of sampling rate q and noise multiplier σ, for δ. */
export function epsilonFor(q: number, sigma: number, rounds: number, delta: number, orders = DEFAULT_ORDERS): Epsilon {
  return new RdpAccountant(orders).compose(q, sigma, rounds).epsilon(delta);
}

/**
 * The smallest noise multiplier whose ε after `rounds` rounds is at most `targetEpsilon`, by
 * bisection (ε falls as σ grows), to a relative tolerance of 1e-4 on σ; the answer errs high, so it
 * always meets the target.
 */
export function noiseMultiplierFor(q: number, rounds: number, delta: number, targetEpsilon: number, orders = DEFAULT_ORDERS): number {
  if (!(targetEpsilon > 0)) throw new RangeError(`the target ε must be > 0, not ${targetEpsilon}`);
  const eps = (sigma: number) => epsilonFor(q, sigma, rounds, delta, orders).epsilon;
  if (q === 0 || rounds === 0) return 0;
  let lo = 0;
  let hi = 1;
  while (eps(hi) > targetEpsilon) {
    lo = hi;
    hi *= 2;
    if (hi > 1e6) throw new RangeError(`no noise multiplier up to 1e6 reaches ε = ${targetEpsilon} at δ = ${delta}`);
  }
  while (hi - lo > 1e-4 * hi) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
