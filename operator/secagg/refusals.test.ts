import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signAdvertisement } from './advertisement.js';
import { SecAggRefusal } from './errors.js';
import { generateX25519 } from './key-agreement.js';
import { ENVELOPE_BYTES, type Envelope } from './messages.js';
import { quantizationBound } from './quantize.js';
import { ServerRound } from './server-round.js';
import { SHARE_BYTES } from './shamir.js';
import { SiteRound } from './site-round.js';
import { jobPki, plainSum, randomUpdate, roundParams, siteNames, type JobPki } from '../../test/support/secagg-round.js';

/**
 * Hostile or late messages, one stage at a time: each is refused with a SecAggRefusal that says
 * why, and the round goes on to the right sum as if it had never been sent.
 */
const SITES = siteNames(6);
let pki: JobPki;
let otherJob: JobPki;

beforeAll(async () => {
  pki = await jobPki(SITES);
  otherJob = await jobPki(['site-00'], 'other');
});

function refused(action: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    action();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SecAggRefusal);
  expect((err as Error).message).toMatch(message);
}

function setUp(length = 200, journalDir?: string) {
  const params = roundParams({ neighbours: 4, threshold: 3, length });
  const server = new ServerRound(params, SITES, pki.caPem, journalDir);
  const sites = new Map(SITES.map((s) => [s, new SiteRound(params, s, pki.credentials.get(s)!, pki.caPem)]));
  const updates = new Map(SITES.map((s) => [s, randomUpdate(length)]));
  return { params, server, sites, updates };
}

type Round = ReturnType<typeof setUp>;

function advertise(r: Round, who = SITES): void {
  for (const s of who) r.server.receiveAdvertisement(s, r.sites.get(s)!.advertise());
  r.server.closeAdvertise();
}
function share(r: Round, who: string[]): void {
  for (const s of who) r.server.receiveShares(s, r.sites.get(s)!.shareKeys(r.server.directoryFor(s)));
  r.server.closeShare();
}
function collect(r: Round, who: string[]) {
  for (const s of who) {
    const upload = r.server.beginMaskedInput(s);
    for (const chunk of r.sites.get(s)!.maskedInput(r.server.envelopesFor(s), r.updates.get(s)!, 64)) upload.fold(chunk);
    upload.finish();
  }
  return r.server.closeCollect();
}
function finish(r: Round, who: string[]) {
  const request = collect(r, who);
  for (const s of who) r.server.receiveUnmask(s, r.sites.get(s)!.unmask(request));
  const result = r.server.closeUnmask();
  expect(result.sites).toEqual(who);
  const error = result.sum.reduce((worst, v, i) => Math.max(worst, Math.abs(v - plainSum(r.updates, who, r.params.clip)[i]!)), 0);
  expect(error).toBeLessThanOrEqual(quantizationBound(r.params.clip, r.params.maxSites, who.length));
  return result;
}

describe('a site counted dropped', () => {
  it('is refused when it comes back later in the round', () => {
    const r = setUp();
    const late = r.sites.get('site-05')!.advertise();
    advertise(r, SITES.slice(0, 5));
    refused(() => r.server.receiveAdvertisement('site-05', late), /site-05 was counted dropped at stage advertise of round 1/);
    refused(() => r.server.directoryFor('site-05'), /counted dropped at stage advertise/);

    const four = SITES.slice(0, 4);
    const shares = r.sites.get('site-04')!.shareKeys(r.server.directoryFor('site-04'));
    share(r, four);
    refused(() => r.server.receiveShares('site-04', shares), /site-04 was counted dropped at stage share/);
    refused(() => r.server.beginMaskedInput('site-04'), /site-04 was counted dropped at stage share/);
    finish(r, four);
  });

  it('is refused when its masked update comes after the collect stage closed, and what it sent is taken out', () => {
    const r = setUp();
    advertise(r);
    share(r, SITES);
    const slow = r.server.beginMaskedInput('site-03');
    const chunks = [...r.sites.get('site-03')!.maskedInput(r.server.envelopesFor('site-03'), r.updates.get('site-03')!, 64)];
    slow.fold(chunks[0]!);
    const others = SITES.filter((s) => s !== 'site-03');
    const request = collect(r, others);
    refused(() => slow.fold(chunks[1]!), /site-03's masked update is no longer taken/);
    refused(() => r.server.receiveUnmask('site-03', { selfMaskShares: [], maskKeyShares: [] }), /site-03 was counted dropped at stage collect/);
    for (const s of others) r.server.receiveUnmask(s, r.sites.get(s)!.unmask(request));
    const result = r.server.closeUnmask();
    expect(result.dropped.get('site-03')).toBe('collect');
    expect(Math.abs(result.sum[0]! - plainSum(r.updates, others, 1)[0]!)).toBeLessThanOrEqual(quantizationBound(1, 16, 5));
  });
});

describe('the aggregator refuses malformed messages and goes on', () => {
  it('in the advertise and share stages', () => {
    const r = setUp();
    const ad = r.sites.get('site-00')!.advertise();
    refused(() => r.server.receiveAdvertisement('site-00', { ...ad, maskKey: Buffer.alloc(31) }), /mask key must be 32 bytes/);
    refused(() => r.server.receiveAdvertisement('site-00', { ...ad, maskKey: generateX25519().publicKey }), /signature does not match/);
    const forged = signAdvertisement({ site: 'site-00', maskKey: ad.maskKey, envelopeKey: ad.envelopeKey }, r.params.context, otherJob.credentials.get('site-00')!);
    refused(() => r.server.receiveAdvertisement('site-00', forged), /not issued by the job's CA/);
    refused(() => r.server.receiveAdvertisement('site-01', ad), /site-01 sent an advertisement for "site-00"/);
    refused(() => r.server.receiveAdvertisement('stranger', ad), /stranger is not in secure-aggregation round 1/);
    r.server.receiveAdvertisement('site-00', ad);
    refused(() => r.server.receiveAdvertisement('site-00', ad), /advertised already/);
    for (const s of SITES.slice(1)) r.server.receiveAdvertisement(s, r.sites.get(s)!.advertise());
    r.server.closeAdvertise();

    const envelopes = r.sites.get('site-00')!.shareKeys(r.server.directoryFor('site-00'));
    const shortened = envelopes.map((e, i) => (i === 0 ? { ...e, envelope: e.envelope.subarray(1) } : e));
    refused(() => r.server.receiveShares('site-00', shortened), new RegExp(`must be ${ENVELOPE_BYTES} bytes`));
    refused(() => r.server.receiveShares('site-00', envelopes.slice(1)), /one envelope to each of its 4 neighbours/);
    refused(() => r.server.receiveShares('site-00', [...envelopes.slice(1), { peer: 'site-00', envelope: envelopes[0]!.envelope }]), /one envelope to each/);
    refused(() => r.server.receiveShares('site-00', [envelopes[0]!, envelopes[0]!]), /two envelopes for site/);
    refused(() => r.server.receiveShares('site-00', Array.from({ length: 5000 }, () => envelopes[0]!) as Envelope[]), /at most 1000 envelopes/);
    refused(() => r.server.receiveShares('site-00', 'nonsense' as unknown as Envelope[]), /must be a list/);
    r.server.receiveShares('site-00', envelopes);
    for (const s of SITES.slice(1)) r.server.receiveShares(s, r.sites.get(s)!.shareKeys(r.server.directoryFor(s)));
    r.server.closeShare();
    finish(r, SITES);
  });

  it('in the collect and unmask stages, leaving no journal behind', () => {
    const journals = mkdtempSync(path.join(tmpdir(), 'secagg-test-'));
    const r = setUp(200, journals);
    advertise(r);
    share(r, SITES);
    const upload = r.server.beginMaskedInput('site-00');
    refused(() => upload.fold(new Float32Array(10) as unknown as Uint32Array), /must be 32-bit words/);
    refused(() => r.server.beginMaskedInput('stranger'), /not in secure-aggregation round/);
    // The refused upload was taken out whole; the site may send it again.
    const again = r.server.beginMaskedInput('site-00');
    const words = [...r.sites.get('site-00')!.maskedInput(r.server.envelopesFor('site-00'), r.updates.get('site-00')!, 64)];
    for (const chunk of words) again.fold(chunk);
    refused(() => again.fold(new Uint32Array(1)), /longer than the 200 words/);
    const third = r.server.beginMaskedInput('site-00');
    for (const chunk of words.slice(0, 2)) third.fold(chunk);
    refused(() => third.finish(), /ended after 128 of 200 words/);
    const last = r.server.beginMaskedInput('site-00');
    for (const chunk of words) last.fold(chunk);
    last.finish();
    refused(() => r.server.beginMaskedInput('site-00'), /sent its masked update already/);

    for (const s of SITES.slice(1)) {
      const up = r.server.beginMaskedInput(s);
      for (const chunk of r.sites.get(s)!.maskedInput(r.server.envelopesFor(s), r.updates.get(s)!, 64)) up.fold(chunk);
      up.finish();
    }
    const request = r.server.closeCollect();
    const answer = r.sites.get('site-00')!.unmask(request);
    const of = answer.selfMaskShares[0]!.of;
    refused(() => r.server.receiveUnmask('site-00', { ...answer, maskKeyShares: [{ of, y: answer.selfMaskShares[0]!.y }] }), /must reveal self-mask shares of exactly/);
    refused(() => r.server.receiveUnmask('site-00', { ...answer, selfMaskShares: answer.selfMaskShares.slice(1) }), /must reveal self-mask shares of exactly/);
    const outside = answer.selfMaskShares.map((s, i) => (i === 0 ? { of: s.of, y: Buffer.alloc(SHARE_BYTES, 0xff) } : s));
    refused(() => r.server.receiveUnmask('site-00', { ...answer, selfMaskShares: outside }), /outside the field/);
    refused(() => r.server.receiveUnmask('site-00', { ...answer, selfMaskShares: [{ of, y: Buffer.alloc(3) }] }), /must be 66 bytes/);
    r.server.receiveUnmask('site-00', answer);
    refused(() => r.server.receiveUnmask('site-00', answer), /answered the unmask stage already/);
    for (const s of SITES.slice(1)) r.server.receiveUnmask(s, r.sites.get(s)!.unmask(request));
    const result = r.server.closeUnmask();
    expect(result.sites).toEqual(SITES);
    const plain = plainSum(r.updates, SITES, 1);
    expect(result.sum.every((v, i) => Math.abs(v - plain[i]!) <= quantizationBound(1, 16, 6))).toBe(true);
    expect(readdirSync(journals)).toEqual([]);
    rmSync(journals, { recursive: true });
  });
});

describe('a site refuses', () => {
  it('a directory that leaves it out or names more sites than the round allows', () => {
    const r = setUp();
    advertise(r);
    const site = r.sites.get('site-00')!;
    const directory = r.server.directoryFor('site-00');
    refused(() => site.shareKeys({ ...directory, sites: directory.sites.filter((s) => s !== 'site-00') }), /does not name site site-00/);
    refused(() => site.shareKeys({ ...directory, sites: [...directory.sites, ...siteNames(30).slice(6)] }), /sites must be an integer in \[4, 16\], got 30/);
    expect(site.shareKeys(directory)).toHaveLength(4);
  });

  it('relayed envelopes that were altered, misaddressed or come from a stranger', () => {
    const r = setUp();
    advertise(r);
    share(r, SITES);
    const relayed = r.server.envelopesFor('site-00');
    const site = r.sites.get('site-00')!;
    const flipped = relayed.map((e, i) => (i === 0 ? { ...e, envelope: Buffer.from(e.envelope.map((b, j) => (j === 40 ? b ^ 1 : b))) } : e));
    refused(() => site.maskedInput(flipped, r.updates.get('site-00')!), /does not open/);
    const swapped = relayed.map((e, i) => ({ ...e, peer: relayed[(i + 1) % relayed.length]!.peer }));
    refused(() => site.maskedInput(swapped, r.updates.get('site-00')!), /does not open/);
    const nonNeighbour = SITES.find((s) => s !== 'site-00' && !relayed.some((e) => e.peer === s))!;
    refused(() => site.maskedInput([...relayed.slice(1), { peer: nonNeighbour, envelope: relayed[0]!.envelope }], r.updates.get('site-00')!), /not a neighbour of site site-00/);
    refused(() => site.maskedInput(relayed, randomUpdate(199)), /199 values, the round masks 200/);
    expect([...site.maskedInput(relayed, r.updates.get('site-00')!)]).toHaveLength(1);
  });

  it('to unmask a sum of fewer than the threshold, and to answer twice (never both halves of one secret)', () => {
    const r = setUp();
    advertise(r);
    share(r, SITES);
    const request = collect(r, SITES);
    const site = r.sites.get('site-00')!;
    refused(() => site.unmask({ survivors: ['site-00', 'site-01'] }), /refuses to unmask a sum of 2 sites, fewer than the threshold 3/);
    refused(() => site.unmask({ survivors: SITES.slice(1) }), /do not include site site-00/);
    const first = site.unmask(request);
    expect(first.selfMaskShares).toHaveLength(4);
    expect(first.maskKeyShares).toHaveLength(0);
    // Asked again with a neighbour now called dropped, it would hand over that neighbour's mask key too.
    const neighbour = first.selfMaskShares[0]!.of;
    refused(() => site.unmask({ survivors: SITES.filter((s) => s !== neighbour) }), /answered the unmask stage for other survivors already/);
    // The same question again (its reply was lost) gets the same answer.
    expect(site.unmask({ survivors: [...request.survivors].reverse() })).toBe(first);
  });

  it('to share its secrets twice; a repeated advertise or share (a lost reply) gets the same answer', () => {
    const r = setUp();
    const site = r.sites.get('site-00')!;
    const ad = site.advertise();
    expect(site.advertise()).toBe(ad);
    r.server.receiveAdvertisement('site-00', ad);
    for (const s of SITES.slice(1)) r.server.receiveAdvertisement(s, r.sites.get(s)!.advertise());
    r.server.closeAdvertise();
    const directory = r.server.directoryFor('site-00');
    const envelopes = site.shareKeys(directory);
    expect(site.shareKeys({ ...directory })).toBe(envelopes);
    refused(() => site.shareKeys({ ...directory, advertisements: [...directory.advertisements].reverse().slice(1) }), /shared its secrets for another directory already/);
  });
});
