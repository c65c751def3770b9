import type { Model } from '../federation/model.js';

/**
 * Bits of integer range the sum keeps for n·|w − w_global| of one update at one coordinate: with
 * 2^27 ≈ 1.3e8, a site of a million records may move a parameter by up to 134 in a round, one of a
 * thousand by up to 134,000. Whatever is left of float64's 53 bits, after room for every site's
 * update at once, is fraction.
 */
const RANGE_BITS = 27;
const EXACT_BITS = 53;
/**
 * Headroom for at least four updates, whatever the number of sites: it keeps every |q| below 2^51,
 * where adding and subtracting ROUNDER rounds to the nearest integer exactly (ties to even).
 */
const MIN_HEADROOM_BITS = 2;
/**
 * 1.5·2^52: for |x| < 2^51, x + ROUNDER lies in [2^52, 2^53), where float64's spacing is 1, so
 * (x + ROUNDER) − ROUNDER is x rounded to the nearest integer. Three times faster than Math.round
 * here (bench:dataplane's fold), and the same in every process: IEEE 754 fixes the result.
 */
const ROUNDER = 2 ** 52 + 2 ** 51;

/** An update's value the sum cannot take exactly: refused before anything of its chunk is folded. */
export class OutOfRange extends Error {
  constructor(
    readonly tensor: number,
    /** Element index in the tensor. */
    readonly element: number,
    readonly value: number,
    readonly weighted: number,
    readonly limit: number,
  ) {
    super(`tensor ${tensor} element ${element}: ${value} moves the model by ${weighted.toPrecision(3)} weighted, beyond ${limit.toPrecision(3)}`);
    this.name = 'OutOfRange';
  }
}

/**
 * The round's running sum of weighted deltas, Σ n_i·(w_i − w_global), in fixed point, and the total
 * weight Σ n_i of the accepted updates. Chunks are folded in as they arrive, so an update is never
 * held whole: memory is the global model plus this sum (8 bytes per parameter), whatever the number
 * of sites.
 *
 * Each folded element becomes an integer, q = round(n·(w − w_global)·2^F), kept in a float64,
 * which holds integers below 2^53 exactly. F leaves room for every site's update at once (|q| is
 * at most 2^53 / sites, else the update is refused), so every sum of them is exact: adding and
 * taking back an update are exact inverses, whatever came between, and the sum is the same bits
 * whatever order the updates arrive in. A refused update leaves the sum as if it never came; a
 * re-run round makes the same model. The price of exactness is the rounding of each element to
 * 2^-F (F = 24 for up to four sites, 21 for twenty, 16 for a thousand): the mean delta is off
 * by at most sites·2^-(F+1)/Σn, far below float32's own rounding of the model.
 */
export class RunningSum {
  /** Per tensor, Σ q: integers, in units of 2^-fractionBits. */
  readonly sums: Float64Array[];
  totalWeight = 0;
  readonly fractionBits: number;
  /** The largest n·|w − w_global| an update may bring to one coordinate. */
  readonly limit: number;
  private readonly maxQ: number;
  private readonly unit: number;

  constructor(
    private readonly global: Model,
    /** The most updates the sum holds at once: the job's sites (one update per site at a time). */
    sites: number,
  ) {
    const headroom = Math.max(MIN_HEADROOM_BITS, Math.ceil(Math.log2(Math.max(1, sites))));
    this.fractionBits = EXACT_BITS - headroom - RANGE_BITS;
    this.maxQ = 2 ** (EXACT_BITS - headroom) - 1;
    this.unit = 2 ** this.fractionBits;
    this.limit = this.maxQ / this.unit;
    this.sums = global.map((t) => new Float64Array(t.data.length));
  }

  /**
   * sum[tensor][offset..] += weight·(values − global), exactly. Throws OutOfRange, leaving the
   * sum as it was, when any element is beyond the limit (or not finite). Returns Σ (values − global)²,
   * which central DP's clipping adds up into the update's norm. `base` replaces the global model
   * as what the delta is taken against (an asynchronous update's older version).
   */
  fold(tensor: number, elementOffset: number, values: Float32Array, weight: number, base: Model = this.global): number {
    const sum = this.sums[tensor]!;
    const global = base[tensor]!.data;
    const scale = weight * this.unit;
    const max = this.maxQ;
    const n = values.length;
    const whole = n - (n % 4);
    // Four elements a step, each with its own sum of squares, so that one element's additions do
    // not wait for the last one's: 3.6 ns an element against 8.3 one at a time (25.6M parameters,
    // Node 24, one core of the 2-core development machines). A step is checked whole before any of
    // it is folded; the one that fails is gone through again an element at a time.
    let q0 = 0;
    let q1 = 0;
    let q2 = 0;
    let q3 = 0;
    let i = 0;
    for (let j = elementOffset; i < whole; i += 4, j += 4) {
      const d0 = values[i]! - global[j]!;
      const d1 = values[i + 1]! - global[j + 1]!;
      const d2 = values[i + 2]! - global[j + 2]!;
      const d3 = values[i + 3]! - global[j + 3]!;
      const x0 = d0 * scale;
      const x1 = d1 * scale;
      const x2 = d2 * scale;
      const x3 = d3 * scale;
      // max is an integer, so x within ±max rounds within ±max; NaN fails the comparison.
      if (!(Math.abs(x0) <= max && Math.abs(x1) <= max && Math.abs(x2) <= max && Math.abs(x3) <= max)) break;
      sum[j]! += x0 + ROUNDER - ROUNDER;
      sum[j + 1]! += x1 + ROUNDER - ROUNDER;
      sum[j + 2]! += x2 + ROUNDER - ROUNDER;
      sum[j + 3]! += x3 + ROUNDER - ROUNDER;
      q0 += d0 * d0;
      q1 += d1 * d1;
      q2 += d2 * d2;
      q3 += d3 * d3;
    }
    // The elements past the last whole step, or from the step that failed its check on.
    for (let k = i, j = elementOffset + i; k < n; k++, j++) {
      const delta = values[k]! - global[j]!;
      const x = delta * scale;
      if (!(Math.abs(x) <= max)) {
        this.subtract(sum, global, values, elementOffset, k, scale);
        throw new OutOfRange(tensor, j, values[k]!, delta * weight, this.limit);
      }
      sum[j]! += x + ROUNDER - ROUNDER;
      q0 += delta * delta;
    }
    return q0 + q1 + q2 + q3;
  }

  /** Takes back a chunk fold() added, for an update refused halfway: the exact inverse. */
  unfold(tensor: number, elementOffset: number, values: Float32Array, weight: number, base: Model = this.global): void {
    this.subtract(this.sums[tensor]!, base[tensor]!.data, values, elementOffset, values.length, weight * this.unit);
  }

  /**
   * Σ n_i·(w_i − w_global) per tensor, as numbers, for the strategy: the sums are turned into
   * them in place (no second model-sized buffer), so reset() must follow before the next fold.
   */
  weightedDeltaSums(): Float64Array[] {
    const toValue = 1 / this.unit;
    for (const s of this.sums) for (let i = 0; i < s.length; i++) s[i]! *= toValue;
    return this.sums;
  }

  reset(): void {
    for (const s of this.sums) s.fill(0);
    this.totalWeight = 0;
  }

  private subtract(sum: Float64Array, global: Float32Array, values: Float32Array, elementOffset: number, count: number, scale: number): void {
    const whole = count - (count % 4);
    let i = 0;
    for (let j = elementOffset; i < whole; i += 4, j += 4) {
      sum[j]! -= (values[i]! - global[j]!) * scale + ROUNDER - ROUNDER;
      sum[j + 1]! -= (values[i + 1]! - global[j + 1]!) * scale + ROUNDER - ROUNDER;
      sum[j + 2]! -= (values[i + 2]! - global[j + 2]!) * scale + ROUNDER - ROUNDER;
      sum[j + 3]! -= (values[i + 3]! - global[j + 3]!) * scale + ROUNDER - ROUNDER;
    }
    for (let j = elementOffset + i; i < count; i++, j++) sum[j]! -= (values[i]! - global[j]!) * scale + ROUNDER - ROUNDER;
  }
}
