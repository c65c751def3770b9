import { beforeAll, describe, expect, it } from '@jest/globals';
import { SecAggRoundFailed } from './errors.js';
import { quantizationBound } from './quantize.js';
import { jobPki, plainSum, randomUpdate, roundParams, runRound, siteNames, type DropPoint, type JobPki } from '../../test/support/secagg-round.js';

const SITES = siteNames(10);
let pki: JobPki;

beforeAll(async () => {
  pki = await jobPki(SITES);
});

function updatesOf(sites: string[], length: number, spread = 1.5) {
  return new Map(sites.map((s) => [s, randomUpdate(length, spread)]));
}

function maxError(a: Float64Array, b: Float64Array): number {
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!)), 0);
}

describe('a secure-aggregation round', () => {
  it('reveals the sum of the clipped updates within the quantization bound (SecAgg+: 10 sites, 4 neighbours each)', () => {
    const params = roundParams({ neighbours: 4, threshold: 3, length: 1000, clip: 1, maxSites: 16 });
    const updates = updatesOf(SITES, params.length);
    const { result } = runRound({ params, pki, updates });
    expect(result.sites).toEqual(SITES);
    const plain = plainSum(updates, SITES, params.clip);
    const bound = quantizationBound(params.clip, params.maxSites, SITES.length);
    // 10 sites, clip 1, room for 16: bound = 10 / (2 s), s = (2^31 - 16) / 16, about 3.7e-8.
    expect(bound).toBeLessThan(4e-8);
    expect(maxError(result.sum, plain)).toBeLessThanOrEqual(bound);
    // The sum is a real one, not zeros: the clipped values reach the clip on some coordinate.
    expect(Math.max(...plain.map(Math.abs))).toBeGreaterThan(3);
  });

  it('works with every site a neighbour of every other (SecAgg, the complete graph)', () => {
    const sites = SITES.slice(0, 5);
    const params = roundParams({ neighbours: 4, threshold: 3, length: 300 });
    const updates = updatesOf(sites, params.length);
    const { result } = runRound({ params, pki, updates });
    expect(maxError(result.sum, plainSum(updates, sites, params.clip))).toBeLessThanOrEqual(quantizationBound(params.clip, params.maxSites, 5));
  });

  // A site's masks survive as long as no more than k - t of its k neighbours drop after advertising:
  // 6 - 4 = 2 for one dropout on the random ring, 8 - 5 = 3 for the three after advertise at once.
  const dropouts: [string, Map<string, DropPoint>, number, number][] = [
    ['advertise', new Map([['site-03', 'advertise']]), 6, 4],
    ['share', new Map([['site-04', 'share']]), 6, 4],
    ['collect (silent)', new Map([['site-05', 'collect']]), 6, 4],
    ['collect (cut off half-way)', new Map([['site-06', 'collect-midway']]), 6, 4],
    ['unmask', new Map([['site-07', 'unmask']]), 6, 4],
    [
      'every stage at once',
      new Map<string, DropPoint>([
        ['site-01', 'advertise'],
        ['site-04', 'share'],
        ['site-06', 'collect-midway'],
        ['site-08', 'unmask'],
      ]),
      8,
      5,
    ],
  ];
  it.each(dropouts)('recovers from a dropout at %s', (_, drop, neighbours, threshold) => {
    const params = roundParams({ neighbours, threshold, length: 700 });
    const updates = updatesOf(SITES, params.length);
    const { result } = runRound({ params, pki, updates, drop });
    // A site silent in unmask sent its update: it is in the sum. The others are not.
    const inSum = SITES.filter((s) => drop.get(s) === undefined || drop.get(s) === 'unmask');
    expect(result.sites).toEqual(inSum);
    expect(maxError(result.sum, plainSum(updates, inSum, params.clip))).toBeLessThanOrEqual(quantizationBound(params.clip, params.maxSites, inSum.length));
    for (const [site, point] of drop) expect(result.dropped.get(site)).toBe(point === 'collect-midway' ? 'collect' : point);
  });

  const beyond: [string, Map<string, DropPoint>, string[]][] = [
    // 5 sites, threshold 4: one may go, two may not.
    ['advertise', new Map([['site-00', 'advertise'], ['site-01', 'advertise']]), ['site-00', 'site-01']],
    ['share', new Map([['site-02', 'share'], ['site-03', 'share']]), ['site-02', 'site-03']],
    ['collect', new Map<string, DropPoint>([['site-01', 'collect'], ['site-04', 'collect-midway']]), ['site-01', 'site-04']],
  ];
  it.each(beyond)('fails at %s when more sites drop than the threshold allows, naming the stage and the sites', (stage, drop, named) => {
    const sites = SITES.slice(0, 5);
    const params = roundParams({ neighbours: 4, threshold: 4, length: 64 });
    let failure: unknown;
    try {
      runRound({ params, pki, updates: updatesOf(sites, params.length), drop });
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(SecAggRoundFailed);
    expect((failure as SecAggRoundFailed).stage).toBe(stage);
    expect((failure as SecAggRoundFailed).sites).toEqual(expect.arrayContaining(named));
    expect((failure as Error).message).toContain(`stage ${stage}`);
    for (const site of named) expect((failure as Error).message).toContain(site);
  });

  it('fails at unmask when too few neighbours reveal their shares, naming the sites', () => {
    const params = roundParams({ neighbours: 4, threshold: 3, length: 64 });
    // Four answer; 10 sites need 3 answers each from 4 neighbours, 30 in all, and four sites give at most 16.
    const drop = new Map<string, DropPoint>(SITES.map((s) => [s, 'unmask'] as [string, DropPoint]).slice(0, 6));
    let failure: unknown;
    try {
      runRound({ params, pki, updates: updatesOf(SITES, params.length), drop });
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(SecAggRoundFailed);
    expect((failure as SecAggRoundFailed).stage).toBe('unmask');
    expect((failure as SecAggRoundFailed).sites).toEqual(expect.arrayContaining(SITES.slice(0, 6)));
  });
});
