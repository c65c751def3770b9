import { describe, expect, it } from '@jest/globals';
import { allFinite } from './finite.js';

describe('allFinite', () => {
  it.each([Float32Array, Float64Array])('finds a non-finite value at any position of a %p', (Typed) => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      // 11 elements: positions in the unrolled body and in the tail.
      for (let at = 0; at < 11; at++) {
        const values = new Typed(11).fill(1);
        values[at] = bad;
        expect(allFinite(values)).toBe(false);
      }
    }
  });

  it('accepts extremes that are finite', () => {
    expect(allFinite(Float32Array.of(0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45))).toBe(true);
    expect(allFinite(Float64Array.of(0, -0, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE))).toBe(true);
    expect(allFinite(new Float32Array(0))).toBe(true);
  });
});
