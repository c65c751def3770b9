/**
 * Shamir secret sharing over GF(p), p = 2^521 - 1 (a Mersenne prime): a 32-byte secret is one
 * field element, so one share carries one element. t shares recover the secret; t - 1 reveal
 * nothing about it.
 */
import { randomBytes } from 'node:crypto';
import { SecAggRefusal } from './errors.js';

export const PRIME = (1n << 521n) - 1n;
/** Bytes of a share's y coordinate, big-endian. */
export const SHARE_BYTES = 66;
export const SECRET_BYTES = 32;

export interface Share {
  /** The holder's x coordinate, 1 to 65535 (0 is the secret itself). */
  x: number;
  y: bigint;
}

function mod(a: bigint): bigint {
  const r = a % PRIME;
  return r < 0n ? r + PRIME : r;
}

/** A uniform field element, by rejection: 521 random bits, drawn again when not below p. */
function randomElement(): bigint {
  for (;;) {
    const bytes = randomBytes(SHARE_BYTES);
    bytes[0]! &= 0x01;
    const value = BigInt(`0x${bytes.toString('hex')}`);
    if (value < PRIME) return value;
  }
}

function inverse(a: bigint): bigint {
  // Fermat: a^(p-2) mod p.
  let result = 1n;
  let base = mod(a);
  let e = PRIME - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % PRIME;
    base = (base * base) % PRIME;
    e >>= 1n;
  }
  return result;
}

function checkX(x: unknown): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 0xffff) {
    throw new SecAggRefusal(`a share's x coordinate must be an integer in [1, 65535], got ${String(x)}`);
  }
  return x;
}

/** Shares of `secret` (32 bytes) for the holders at `xs`, any `threshold` of which recover it. */
export function split(secret: Buffer, threshold: number, xs: number[]): Share[] {
  if (secret.length !== SECRET_BYTES) throw new Error(`a secret is ${SECRET_BYTES} bytes, got ${secret.length}`);
  if (new Set(xs).size !== xs.length) throw new Error('share holders need distinct x coordinates');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new Error(`threshold ${threshold} must be in [1, ${xs.length}]`);
  }
  const coefficients = [BigInt(`0x${secret.toString('hex')}`)];
  for (let i = 1; i < threshold; i++) coefficients.push(randomElement());
  return xs.map((x) => {
    const bx = BigInt(checkX(x));
    let y = 0n;
    for (let i = coefficients.length - 1; i >= 0; i--) y = (y * bx + coefficients[i]!) % PRIME;
    return { x, y };
  });
}

/**
 * The secret that `shares` interpolate to at x = 0. It takes exactly `threshold` of them (the
 * first ones); fewer is an error. A share with a repeated x or a y outside the field is refused.
 */
export function combine(shares: Share[], threshold: number): Buffer {
  if (shares.length < threshold) throw new SecAggRefusal(`${shares.length} shares cannot recover a secret shared ${threshold}-of-n`);
  const used = shares.slice(0, threshold);
  if (new Set(used.map((s) => checkX(s.x))).size !== used.length) throw new SecAggRefusal('two shares have the same x coordinate');
  let secret = 0n;
  for (const [i, share] of used.entries()) {
    if (share.y < 0n || share.y >= PRIME) throw new SecAggRefusal('a share lies outside the field');
    let numerator = 1n;
    let denominator = 1n;
    for (const [j, other] of used.entries()) {
      if (i === j) continue;
      numerator = (numerator * BigInt(other.x)) % PRIME;
      denominator = mod(denominator * (BigInt(other.x) - BigInt(share.x)));
    }
    secret = mod(secret + share.y * numerator * inverse(denominator));
  }
  if (secret >= 1n << BigInt(8 * SECRET_BYTES)) throw new SecAggRefusal('the shares do not interpolate to a 32-byte secret');
  return Buffer.from(secret.toString(16).padStart(2 * SECRET_BYTES, '0'), 'hex');
}

export function encodeY(y: bigint): Buffer {
  return Buffer.from(y.toString(16).padStart(2 * SHARE_BYTES, '0'), 'hex');
}

/** A y coordinate from its 66 bytes; refused when not in the field. */
export function decodeY(bytes: Buffer): bigint {
  if (bytes.length !== SHARE_BYTES) throw new SecAggRefusal(`a share's y coordinate is ${SHARE_BYTES} bytes, got ${bytes.length}`);
  const y = BigInt(`0x${bytes.toString('hex')}`);
  if (y >= PRIME) throw new SecAggRefusal('a share lies outside the field');
  return y;
}
