import { beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { signAdvertisement, verifyAdvertisement, type Advertisement } from './advertisement.js';
import { SecAggRefusal } from './errors.js';
import { generateX25519 } from './key-agreement.js';
import type { KeyDirectory } from './messages.js';
import { jobPki, randomUpdate, roundParams, runRound, siteNames, type JobPki } from '../../test/support/secagg-round.js';

/** The aggregator relays advertisements; here it tries to put its own keys in a site's place. */
const SITES = siteNames(5);
let pki: JobPki;
let otherJob: JobPki;

beforeAll(async () => {
  pki = await jobPki(SITES);
  otherJob = await jobPki(SITES, 'other');
});

const updates = () => new Map(SITES.map((s) => [s, randomUpdate(32)]));

function runWith(tamper: (site: string, directory: KeyDirectory) => KeyDirectory): unknown {
  try {
    runRound({ params: roundParams({ length: 32 }), pki, updates: updates(), tamperDirectory: tamper });
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Replaces site-02's advertisement, wherever it is relayed, by what `forge` makes of it. */
function replacing(forge: (ad: Advertisement) => Advertisement) {
  return (_: string, directory: KeyDirectory): KeyDirectory => ({
    ...directory,
    advertisements: directory.advertisements.map((ad) => (ad.site === 'site-02' ? forge(ad) : ad)),
  });
}

describe('advertised keys relayed by the aggregator', () => {
  it('are accepted untouched', () => {
    expect(runWith((_, d) => d)).toBeUndefined();
  });

  it('are refused when the relay swaps in its own mask key', () => {
    const err = runWith(replacing((ad) => ({ ...ad, maskKey: generateX25519().publicKey })));
    expect(err).toBeInstanceOf(SecAggRefusal);
    expect((err as Error).message).toMatch(/site-02 is refused: its signature does not match its keys/);
  });

  it('are refused when the relay swaps in its own envelope key', () => {
    const err = runWith(replacing((ad) => ({ ...ad, envelopeKey: generateX25519().publicKey })));
    expect((err as Error).message).toMatch(/site-02 is refused: its signature does not match/);
  });

  it('are refused when re-signed by a certificate of another job', () => {
    const forged = replacing((ad) => signAdvertisement({ site: ad.site, maskKey: generateX25519().publicKey, envelopeKey: ad.envelopeKey }, roundParams().context, otherJob.credentials.get('site-02')!));
    expect((runWith(forged) as Error).message).toMatch(/site-02 is refused: its certificate was not issued by the job's CA/);
  });

  it("are refused when signed with another site's certificate of the same job", () => {
    const params = roundParams();
    const ad = signAdvertisement({ site: 'site-02', maskKey: generateX25519().publicKey, envelopeKey: generateX25519().publicKey }, params.context, pki.credentials.get('site-03')!);
    expect(() => verifyAdvertisement(ad, params.context, pki.caPem)).toThrow(/site-02 is refused: its certificate names spiffe:\/\/heart\.hospitals\.jobs\.flotilla\.dev\/site\/site-03/);
  });

  it('are refused when replayed from another round', () => {
    const earlier = roundParams({}, 1);
    const later = roundParams({}, 2);
    const keys = { site: 'site-02', maskKey: generateX25519().publicKey, envelopeKey: generateX25519().publicKey };
    const ad = signAdvertisement(keys, earlier.context, pki.credentials.get('site-02')!);
    expect(() => verifyAdvertisement(ad, earlier.context, pki.caPem)).not.toThrow();
    expect(() => verifyAdvertisement(ad, later.context, pki.caPem)).toThrow(/signature does not match/);
    // Same round number, another nonce: a round run again after a restart.
    expect(() => verifyAdvertisement(ad, { ...earlier.context, nonce: randomBytes(16) }, pki.caPem)).toThrow(/signature does not match/);
  });

  it('are refused when one is left out or one is added', () => {
    const dropped = runWith((_, d) => ({ ...d, advertisements: d.advertisements.slice(1) }));
    expect((dropped as Error).message).toMatch(/exactly the \d+ neighbours/);
    const doubled = runWith((_, d) => ({ ...d, advertisements: [d.advertisements[0]!, ...d.advertisements.slice(0, -1)] }));
    expect((doubled as Error).message).toMatch(/repeated/);
  });

  it('are refused when malformed, with a bounded message', () => {
    const params = roundParams();
    const good = signAdvertisement({ site: 'site-02', maskKey: generateX25519().publicKey, envelopeKey: generateX25519().publicKey }, params.context, pki.credentials.get('site-02')!);
    const bad: [Partial<Advertisement> | Record<string, unknown>, RegExp][] = [
      [{ ...good, maskKey: Buffer.alloc(31) }, /mask key must be 32 bytes/],
      [{ ...good, envelopeKey: 'AAAA' }, /envelope key must be 32 bytes/],
      [{ ...good, certPem: 'x'.repeat(20_000) }, /certificate is not a PEM of at most/],
      [{ ...good, certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, /certificate cannot be read/],
      [{ ...good, signature: Buffer.alloc(4096) }, /signature is missing or too long/],
      [{ ...good, site: 'Not A Site'.repeat(30) }, /is not a DNS-1123 label/],
    ];
    for (const [ad, message] of bad) {
      let err: unknown;
      try {
        verifyAdvertisement(ad as Advertisement, params.context, pki.caPem);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SecAggRefusal);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message.length).toBeLessThan(300);
    }
  });
});
