import { beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { maskKey, MaskStream } from './mask.js';
import { quantize } from './quantize.js';
import { ServerRound } from './server-round.js';
import { SiteRound } from './site-round.js';
import { jobPki, roundParams, siteNames, type JobPki } from '../../test/support/secagg-round.js';

/**
 * What the aggregator sees of one site, its masked update, must look like uniform words whatever
 * the update. Two tests of that: a chi-square test on the bytes of the words (256 bins), and a
 * Kolmogorov–Smirnov test on the words as fractions of 2^32. Each is checked to catch an unmasked
 * update and a badly masked one, so that it cannot pass whatever it is given.
 */
const LENGTH = 1 << 16;

/** The chi-square statistic of the bytes of `words` against the uniform distribution on 256 values. */
function chiSquareOfBytes(words: Uint32Array): number {
  const counts = new Float64Array(256);
  for (const b of new Uint8Array(words.buffer, words.byteOffset, words.byteLength)) counts[b]! += 1;
  const expected = words.byteLength / 256;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

/** The upper 1e-6 quantile of chi-square with `dof` degrees of freedom (Wilson–Hilferty; z = 4.753). */
function chiSquareCritical(dof: number): number {
  const h = 2 / (9 * dof);
  return dof * (1 - h + 4.753 * Math.sqrt(h)) ** 3;
}

/** The KS statistic of the words / 2^32 against U(0, 1). */
function ksUniform(words: Uint32Array): number {
  const sorted = Float64Array.from(words, (w) => w / 2 ** 32).sort();
  let d = 0;
  sorted.forEach((x, i) => (d = Math.max(d, Math.abs(x - i / sorted.length), Math.abs(x - (i + 1) / sorted.length))));
  return d;
}
/** KS's critical value at 1e-6: sqrt(-ln(1e-6 / 2) / 2) / sqrt(n). */
const KS_CRITICAL = Math.sqrt(-Math.log(0.5e-6) / 2) / Math.sqrt(LENGTH);

function looksUniform(words: Uint32Array): boolean {
  return chiSquareOfBytes(words) < chiSquareCritical(255) && ksUniform(words) < KS_CRITICAL;
}

/** A structured update a curious aggregator would love to read: a ramp. */
const update = Float64Array.from({ length: LENGTH }, (_, i) => ((i % 200) - 100) / 100);

let pki: JobPki;
let masked: Uint32Array;

beforeAll(async () => {
  const sites = siteNames(5);
  pki = await jobPki(sites);
  const params = roundParams({ neighbours: 4, threshold: 3, length: LENGTH });
  const server = new ServerRound(params, sites, pki.caPem);
  const rounds = sites.map((s) => new SiteRound(params, s, pki.credentials.get(s)!, pki.caPem));
  for (const r of rounds) server.receiveAdvertisement(r.site, r.advertise());
  server.closeAdvertise();
  for (const r of rounds) server.receiveShares(r.site, r.shareKeys(server.directoryFor(r.site)));
  server.closeShare();
  const r = rounds[0]!;
  masked = new Uint32Array(LENGTH);
  let at = 0;
  for (const chunk of r.maskedInput(server.envelopesFor(r.site), update, 4096)) {
    masked.set(chunk, at);
    at += chunk.length;
  }
});

describe('one masked update', () => {
  it('is indistinguishable from uniform words (chi-square on its bytes, KS on its words)', () => {
    expect(chiSquareOfBytes(masked)).toBeLessThan(chiSquareCritical(255));
    expect(ksUniform(masked)).toBeLessThan(KS_CRITICAL);
  });

  it('has no visible relation to the update it hides', () => {
    const plain = new Uint32Array(LENGTH);
    quantize(update, 1, 16, plain);
    // Equal words would be the update showing through: about LENGTH / 2^32 of them by chance.
    expect(masked.filter((w, i) => w === plain[i]).length).toBeLessThanOrEqual(1);
  });

  it('the same tests catch an unmasked update', () => {
    const plain = new Uint32Array(LENGTH);
    quantize(update, 1, 16, plain);
    expect(looksUniform(plain)).toBe(false);
  });

  it('the same tests catch an update masked in its low half-words only', () => {
    const plain = new Uint32Array(LENGTH);
    quantize(update, 1, 16, plain);
    const mask = new MaskStream(maskKey(randomBytes(32), roundParams().context, 'self mask')).next(LENGTH);
    const weak = plain.map((w, i) => (w + (mask[i]! & 0xffff)) >>> 0);
    expect(looksUniform(weak)).toBe(false);
  });

  it('the same tests catch masks that are a short pattern repeated (a non-cryptographic generator with a tiny state)', () => {
    const plain = new Uint32Array(LENGTH);
    quantize(update, 1, 16, plain);
    const pattern = new Uint32Array(randomBytes(4 * 16).buffer);
    const weak = plain.map((w, i) => (w + pattern[i % 16]!) >>> 0);
    expect(looksUniform(weak)).toBe(false);
  });
});
