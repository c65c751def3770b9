import { beforeAll, describe, expect, it } from '@jest/globals';
import type { SecAggRequest__Output } from '../federation/generated/flotilla/federation/v1/SecAggRequest.js';
import { SiteRound } from '../secagg/site-round.js';
import { advertisementFromWire, advertisementToWire, envelopesFromWire, envelopesToWire, paramsFromWire } from '../secagg/wire.js';
import { JOB, NAMESPACE, jobPki, siteNames, type JobPki } from '../../test/support/secagg-round.js';
import { Refusal } from './refusal.js';
import { SecureRound } from './secure-round.js';

const SITES = siteNames(4);
const STAGE_MS = 1_000;
let pki: JobPki;

beforeAll(async () => {
  pki = await jobPki(SITES);
});

/** A round of the four sites and each site's side of it, with the calls a site's SecAgg would make. */
function setup() {
  const secure = new SecureRound(1, 0, SITES, { threshold: 2, neighbours: undefined, clip: 1, stageTimeoutMs: STAGE_MS }, { namespace: NAMESPACE, job: JOB, sites: 4, length: 8, jobCaPem: pki.caPem, journalDir: '/tmp' }, 0);
  const params = paramsFromWire({ ...secure.wire, nonce: secure.params.context.nonce } as never, { namespace: NAMESPACE, job: JOB, round: 1 });
  const sites = new Map(SITES.map((s) => [s, new SiteRound(params, s, pki.credentials.get(s)!, pki.caPem)]));
  const request = (body: Partial<SecAggRequest__Output>) => ({ round: 1, attempt: 0, waitMs: 0, ...body }) as SecAggRequest__Output;
  const advertise = (s: string) => secure.receive(s, request({ advertisement: advertisementToWire(sites.get(s)!.advertise()) as never, body: 'advertisement' }));
  const share = (s: string) => {
    const { directory } = secure.answer(s)!;
    const envelopes = sites.get(s)!.shareKeys({ sites: directory!.sites!, advertisements: directory!.advertisements!.map((a) => advertisementFromWire(a as never)) });
    secure.receive(s, request({ shares: { envelopes: envelopesToWire(envelopes) } as never, body: 'shares' }));
  };
  const upload = (s: string) => {
    const { relayed } = secure.answer(s)!;
    const masked = secure.beginMasked(s);
    for (const words of sites.get(s)!.maskedInput(envelopesFromWire(relayed!.envelopes as never), new Float64Array(8).fill(0.25))) masked.fold(words);
    masked.finish();
  };
  return { secure, advertise, share, upload, sites: { params } };
}

const everyone = () => true;

describe('SecureRound: when its stages close', () => {
  it('closes a stage once every site still in has answered, and not before', () => {
    const { secure, advertise } = setup();
    SITES.slice(0, 3).forEach(advertise);
    expect(secure.answer(SITES[0]!)).toBeNull();
    expect(secure.tick(10, everyone, 60_000)).toBeNull();
    expect(secure.current).toBe('advertise');
    advertise(SITES[3]!);
    // Sent again after a lost answer: ignored, not refused.
    advertise(SITES[3]!);
    secure.tick(20, everyone, 60_000);
    expect(secure.current).toBe('share');
    expect(secure.answer(SITES[0]!)?.directory?.advertisements).toHaveLength(3);
  });

  it('does not wait for a site the round no longer has (silent past the heartbeat timeout), and counts it dropped', () => {
    const { secure, advertise } = setup();
    SITES.slice(0, 3).forEach(advertise);
    secure.tick(10, (s) => s !== SITES[3], 60_000);
    expect(secure.current).toBe('share');
    expect(secure.droppedSites()).toEqual([SITES[3]]);
    expect(() => secure.answer(SITES[3]!)).toThrow(Refusal);
    expect(() => secure.answer(SITES[3]!)).toThrow(/counted dropped at stage advertise/);
  });

  it('waits for the collect stage, in which the sites train, until one stage timeout before the round’s deadline', () => {
    const { secure, advertise, share, upload } = setup();
    SITES.forEach(advertise);
    secure.tick(1, everyone, 10_000);
    SITES.forEach(share);
    secure.tick(2, everyone, 10_000);
    expect(secure.current).toBe('collect');
    SITES.slice(0, 3).forEach(upload);
    expect(secure.tick(5_000, everyone, 10_000)).toBeNull();
    expect(secure.current).toBe('collect');
    secure.tick(10_000 - STAGE_MS, everyone, 10_000);
    expect(secure.current).toBe('unmask');
    expect(secure.droppedSites()).toEqual([SITES[3]]);
    expect(secure.answer(SITES[0]!)?.survivors?.sites).toEqual(SITES.slice(0, 3));
  });

  it('refuses a site that comes back with new keys (a restarted client) for the rest of the round, and counts it out', () => {
    const { secure, advertise, sites } = setup();
    SITES.forEach(advertise);
    const restarted = new SiteRound(sites.params, SITES[1]!, pki.credentials.get(SITES[1]!)!, pki.caPem);
    const again = { round: 1, attempt: 0, waitMs: 0, advertisement: advertisementToWire(restarted.advertise()), body: 'advertisement' } as unknown as SecAggRequest__Output;
    expect(() => secure.receive(SITES[1]!, again)).toThrow(/advertised other keys for round 1 already/);
    expect(secure.droppedSites()).toEqual([SITES[1]]);
    expect(() => secure.answer(SITES[1]!)).toThrow(/takes part again from the next round/);
    // The others go on: the round does not wait for it.
    secure.tick(10, (s) => s !== SITES[1], 60_000);
    expect(secure.current).toBe('share');
  });

  it('at its timeout closes a stage with whoever answered; too few fail the round, naming the stage and the sites', () => {
    const { secure, advertise } = setup();
    SITES.slice(0, 2).forEach(advertise);
    expect(secure.tick(STAGE_MS - 1, everyone, 60_000)).toBeNull();
    const outcome = secure.tick(STAGE_MS, everyone, 60_000);
    expect(outcome?.kind).toBe('failed');
    const error = (outcome as { error: { stage: string; sites: string[]; message: string } }).error;
    expect(error.stage).toBe('advertise');
    expect(error.sites).toEqual(SITES.slice(2));
    expect(error.message).toMatch(/secure aggregation failed at stage advertise: 2 sites advertised keys/);
    // Every site of the failed round hears why when it asks.
    expect(() => secure.answer(SITES[0]!)).toThrow(/failed at stage advertise/);
  });
});
