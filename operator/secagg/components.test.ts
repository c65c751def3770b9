import { beforeAll, describe, expect, it } from '@jest/globals';
import { SecAggRefusal, SecAggRoundFailed } from './errors.js';
import { NeighbourGraph } from './graph.js';
import { ServerRound } from './server-round.js';
import { SiteRound } from './site-round.js';
import { jobPki, randomUpdate, roundParams, siteNames, type JobPki } from '../../test/support/secagg-round.js';

/**
 * The survivors' pairwise masks cancel within each group of survivors that masked with one another,
 * so the aggregator could read each group's sum on its own. A site whose neighbours all dropped after
 * sharing would be a group of one: its update in the clear. Such a round must not be unmasked.
 */
const SITES = siteNames(8);
let pki: JobPki;

beforeAll(async () => {
  pki = await jobPki(SITES);
});

describe('survivors split into groups that share no masks', () => {
  it('are refused by the aggregator and by the sites when a group is smaller than the threshold', () => {
    const params = roundParams({ neighbours: 2, threshold: 2, length: 32 });
    const graph = new NeighbourGraph(SITES, 2, params.context);
    const lonely = SITES[0]!;
    const [left, right] = graph.neighboursOf(lonely) as [string, string];
    const server = new ServerRound(params, SITES, pki.caPem);
    const sites = new Map(SITES.map((s) => [s, new SiteRound(params, s, pki.credentials.get(s)!, pki.caPem)]));
    for (const [s, r] of sites) server.receiveAdvertisement(s, r.advertise());
    server.closeAdvertise();
    for (const [s, r] of sites) server.receiveShares(s, r.shareKeys(server.directoryFor(s)));
    server.closeShare();
    // Both of the lonely site's neighbours fall silent in the collect stage.
    for (const [s, r] of sites) {
      if (s === left || s === right) continue;
      const upload = server.beginMaskedInput(s);
      for (const chunk of r.maskedInput(server.envelopesFor(s), randomUpdate(32))) upload.fold(chunk);
      upload.finish();
    }
    const survivors = SITES.filter((s) => s !== left && s !== right);
    // Each site, told these survivors, sees the lonely one alone and refuses.
    const other = survivors.find((s) => s !== lonely)!;
    let refusal: unknown;
    try {
      sites.get(other)!.unmask({ survivors });
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(SecAggRefusal);
    expect((refusal as Error).message).toMatch(new RegExp(`a group of 1 site \\(${lonely}\\)`));

    let failure: unknown;
    try {
      server.closeCollect();
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(SecAggRoundFailed);
    expect((failure as SecAggRoundFailed).stage).toBe('collect');
    expect((failure as SecAggRoundFailed).sites).toContain(lonely);
  });
});
