import { randomFillSync } from 'node:crypto';

/**
 * Gaussian noise for differential privacy, from the operating system's CSPRNG (node:crypto), never
 * from Math.random or the job's seeded generator: noise that can be predicted can be subtracted.
 *
 * The sampler: uniforms with 53 random bits each (a double's full mantissa), taken from
 * randomFillSync in blocks of 256 KiB (small blocks made the call the cost), and the Box–Muller
 * transform, z = √(−2 ln u₁)·cos(2π u₂), with u₁ in (0, 1] so that the log is finite; both of
 * each pair's normals are used. Box–Muller over doubles is the textbook floating-point sampler:
 * its tails are cut where u₁ reaches 2⁻⁵³ (about 8.6σ), and, like every floating-point sampler,
 * the low bits of a noised value can in principle leak (Mironov 2012 for the Laplace mechanism).
 * A discrete Gaussian on a fixed-point grid (Canonne, Kamath and Steinke 2020) would close that;
 * docs/privacy.md says what is and is not covered.
 */
export class GaussianNoise {
  private readonly words = new Uint32Array(1 << 16);
  private next = this.words.length;
  private spare: number | null = null;

  /** One draw of N(0, 1). */
  standard(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const u1 = 1 - this.uniform(); // (0, 1]
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Adds N(0, stddev²) to every element, in place. */
  addTo(values: Float32Array | Float64Array, stddev: number): void {
    if (!(stddev >= 0) || !Number.isFinite(stddev)) throw new RangeError(`a noise standard deviation must be finite and ≥ 0, not ${stddev}`);
    if (stddev === 0) return;
    for (let i = 0; i < values.length; i++) values[i]! += stddev * this.standard();
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.word() >>> 5; // 27 bits
    const lo = this.word() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  private word(): number {
    if (this.next === this.words.length) {
      randomFillSync(this.words);
      this.next = 0;
    }
    return this.words[this.next++]!;
  }
}
