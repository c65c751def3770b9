import { beforeAll, describe, expect, it } from '@jest/globals';
import { NeighbourGraph } from './graph.js';
import { ServerRound } from './server-round.js';
import { combine, decodeY, type Share } from './shamir.js';
import { SiteRound } from './site-round.js';
import { jobPki, randomUpdate, roundParams, siteNames, type JobPki } from '../../test/support/secagg-round.js';

/**
 * An aggregator that lies in the unmask stage: it tells some of a target site's neighbours that the
 * target survived (to get shares of its self-mask seed) and the others that it dropped (to get
 * shares of its mask key). With both secrets it could strip every mask off the target's update.
 * Alone it cannot get t of both: 2t > k, and each site answers once.
 */
const SITES = siteNames(6);
let pki: JobPki;

beforeAll(async () => {
  pki = await jobPki(SITES);
});

describe('a lying aggregator in the unmask stage', () => {
  it('cannot collect enough of both halves of one site’s secrets', () => {
    const params = roundParams({ neighbours: 5, threshold: 3, length: 16 });
    const server = new ServerRound(params, SITES, pki.caPem);
    const sites = new Map(SITES.map((s) => [s, new SiteRound(params, s, pki.credentials.get(s)!, pki.caPem)]));
    for (const [s, r] of sites) server.receiveAdvertisement(s, r.advertise());
    server.closeAdvertise();
    for (const [s, r] of sites) server.receiveShares(s, r.shareKeys(server.directoryFor(s)));
    server.closeShare();
    for (const [s, r] of sites) {
      const upload = server.beginMaskedInput(s);
      for (const chunk of r.maskedInput(server.envelopesFor(s), randomUpdate(16))) upload.fold(chunk);
      upload.finish();
    }
    server.closeCollect();

    const target = 'site-00';
    const graph = new NeighbourGraph(SITES, params.neighbours, params.context);
    const holders = graph.neighboursOf(target);
    expect(holders).toHaveLength(5);
    const selfShares: Share[] = [];
    const keyShares: Share[] = [];
    for (const [i, holder] of holders.entries()) {
      // Three are told the target survived, two that it dropped; then each is asked the other way.
      const told = i < 3 ? SITES : SITES.filter((s) => s !== target);
      const other = i < 3 ? SITES.filter((s) => s !== target) : SITES;
      const answer = sites.get(holder)!.unmask({ survivors: told });
      expect(() => sites.get(holder)!.unmask({ survivors: other })).toThrow(/answered the unmask stage for other survivors already/);
      for (const share of answer.selfMaskShares) if (share.of === target) selfShares.push({ x: graph.xOf(holder), y: decodeY(share.y) });
      for (const share of answer.maskKeyShares) if (share.of === target) keyShares.push({ x: graph.xOf(holder), y: decodeY(share.y) });
    }
    expect(selfShares.length + keyShares.length).toBe(5);
    expect(selfShares).toHaveLength(3);
    expect(() => combine(keyShares, params.threshold)).toThrow(/2 shares cannot recover a secret shared 3-of-n/);
    // The self-mask seed alone leaves the pairwise masks on: the update stays hidden.
    expect(combine(selfShares, params.threshold)).toHaveLength(32);
  });
});
