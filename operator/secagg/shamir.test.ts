import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { SecAggRefusal } from './errors.js';
import { combine, decodeY, encodeY, PRIME, split } from './shamir.js';

describe('Shamir sharing over GF(2^521 - 1)', () => {
  const secret = randomBytes(32);
  const xs = [1, 4, 7, 9, 12, 30];
  const shares = split(secret, 4, xs);

  it('recovers the secret from any threshold of the shares', () => {
    for (const pick of [[0, 1, 2, 3], [2, 3, 4, 5], [5, 0, 3, 1], [1, 2, 4, 5]]) {
      expect(combine(pick.map((i) => shares[i]!), 4).equals(secret)).toBe(true);
    }
  });

  it('does not recover it from fewer: threshold - 1 shares and a guess interpolate to no 32-byte secret at all', () => {
    // A 32-byte secret is one field element in 2^265: a wrong share is caught but for that chance.
    const guess = { x: 2, y: 12345n };
    expect(() => combine([shares[0]!, shares[1]!, shares[2]!, guess], 4)).toThrow(/do not interpolate to a 32-byte secret/);
    expect(() => combine(shares.slice(0, 3), 4)).toThrow(SecAggRefusal);
  });

  it('draws fresh coefficients each time: two sharings of one secret differ', () => {
    const again = split(secret, 4, xs);
    expect(again.some((s, i) => s.y !== shares[i]!.y)).toBe(true);
  });

  it('refuses shares that cannot be combined', () => {
    expect(() => combine([shares[0]!, shares[0]!, shares[1]!, shares[2]!], 4)).toThrow(/same x coordinate/);
    expect(() => combine([{ x: 0, y: 1n }, ...shares.slice(1, 4)], 4)).toThrow(/x coordinate must be an integer in \[1, 65535\]/);
    expect(() => combine([{ x: 3, y: PRIME }, ...shares.slice(1, 4)], 4)).toThrow(/outside the field/);
    expect(() => decodeY(Buffer.alloc(65))).toThrow(/66 bytes/);
    expect(() => decodeY(Buffer.alloc(66, 0xff))).toThrow(/outside the field/);
    expect(decodeY(encodeY(shares[0]!.y))).toBe(shares[0]!.y);
  });
});
