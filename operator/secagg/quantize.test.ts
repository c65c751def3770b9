import { describe, expect, it } from '@jest/globals';
import { addInto } from './mask.js';
import { dequantize, quantizationBound, quantize, scaleOf } from './quantize.js';

describe('fixed-point quantization modulo 2^32', () => {
  it('adds up as many sites as it leaves room for, at the clip, without wrapping', () => {
    const maxSites = 50;
    const clip = 0.5;
    for (const edge of [clip, -clip]) {
      const sum = new Uint32Array(3);
      const words = new Uint32Array(3);
      for (let s = 0; s < maxSites; s++) {
        quantize([edge, edge * 10, -edge / 3], clip, maxSites, words);
        addInto(sum, words);
      }
      const out = new Float64Array(3);
      dequantize(sum, clip, maxSites, out);
      const bound = quantizationBound(clip, maxSites, maxSites);
      expect(Math.abs(out[0]! - maxSites * edge)).toBeLessThanOrEqual(bound);
      expect(Math.abs(out[1]! - maxSites * edge)).toBeLessThanOrEqual(bound);
      expect(Math.abs(out[2]! + (maxSites * edge) / 3)).toBeLessThanOrEqual(bound);
    }
  });

  it('clips NaN and infinities instead of letting them through', () => {
    const words = new Uint32Array(3);
    quantize([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], 1, 4, words);
    const out = new Float64Array(3);
    dequantize(words, 1, 4, out);
    expect(out[0]).toBe(0);
    expect(Math.abs(out[1]! - 1)).toBeLessThan(1 / scaleOf(1, 4));
    expect(Math.abs(out[2]! + 1)).toBeLessThan(1 / scaleOf(1, 4));
  });

  it('states its bound: m sites within m / (2 s)', () => {
    // 10 sites, clip 1, room for 16: s ≈ 1.34e8, bound ≈ 3.7e-8.
    expect(quantizationBound(1, 16, 10)).toBeCloseTo(10 / (2 * ((2 ** 31 - 16) / 16)), 15);
  });
});
