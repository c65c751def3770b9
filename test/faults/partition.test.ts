/**
 * A site's link to its aggregator cut (every connection closed, new ones refused) and restored, by
 * a TCP proxy between the site's client and the aggregator, all of them real processes: during the
 * statistics phase, during a download and during an upload. Each time the phase closes on the
 * quorum of the other sites, and the site, once its link is back, rejoins by itself.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { freePort } from '../support/operator-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { FaultFigures } from './figures.js';
import { ENDED_WELL, firstToLog, jobFixture, logLines, runJob, SITES, type JobFixture, type JobOutcome, type RunningJob } from './dataplane-job.js';

jest.setTimeout(300_000);

/** Each way: wide enough that a cut aimed at a call in flight lands while it is in flight. */
const LINK_DELAY_MS = 120;

type Site = (typeof SITES)[number];

interface Cut {
  /**
   * The sites the cut may go to: the first of them handed the phase's work. A client started
   * slowly can miss the statistics phase (the others' quorum closes the initial model, and a site
   * not heard from within the heartbeat timeout is dropped), so that cut goes to one that has it.
   * Never cleveland: a site that sent no statistics is held to the largest count another site sent
   * (docs/data-plane.md), and cleveland has more training records than any other, so once cut out
   * of that phase every update it sends is refused (a limitation this test found, not fixed yet).
   */
  sites: Site[];
  during: string;
  /** The round cut into (none for the statistics phase). */
  round?: number;
  /** The client's log line after which its call is in flight. */
  when: (line: Record<string, unknown>) => boolean;
  /** Restore once the aggregator is past the phase. */
  over: (status: { phase: string; round: number }) => boolean;
  /** The client's line had the call cut into completed: it must never appear. */
  completed: (line: Record<string, unknown>) => boolean;
}

const CUTS: Cut[] = [
  { sites: ['va', 'switzerland'], during: 'the statistics phase', when: (l) => l.message === 'task' && l.kind === 'STATISTICS', over: (s) => s.phase === 'Training', completed: (l) => l.message === 'statistics sent' },
  { sites: ['switzerland'], during: 'a download', round: 2, when: (l) => l.message === 'task' && l.kind === 'TRAIN' && l.round === 2, over: (s) => s.round >= 2, completed: (l) => l.message === 'model received' && l.round === 2 },
  { sites: ['hungarian'], during: 'an upload', round: 3, when: (l) => l.message === 'trained' && l.round === 3, over: (s) => s.round >= 3, completed: (l) => l.message === 'update sent' && l.round === 3 },
];

describe('a site cut off from its aggregator, then restored', () => {
  let fixture: JobFixture;
  let outcome: JobOutcome;
  const proxies = new Map<string, TcpProxy>();
  /** How long each cut lasted, by the phase it cut into. */
  const cutFor = new Map<string, number>();
  /** The site each cut landed on, by the phase it cut into. */
  const cutSite = new Map<string, Site>();
  const siteOf = (cut: Cut) => cutSite.get(cut.during)!;
  const figures = new FaultFigures('partition of the data plane');

  beforeAll(async () => {
    // A site is dropped from a phase once silent for the heartbeat timeout, so a cut lasts that long.
    // A client started that late is dropped too, and with one site cut the phase would then wait
    // for a quorum it cannot have: 10 s is past any start on a loaded machine (3 s was not, in CI).
    fixture = await jobFixture('partition', { rounds: 7, minSites: 3, heartbeatTimeoutSeconds: 10, roundDeadlineSeconds: 20 });
    const port = await freePort();
    for (const site of SITES) proxies.set(site, await TcpProxy.start({ host: '127.0.0.1', port }, { delayMs: LINK_DELAY_MS }));
    const during = async (job: RunningJob) => {
      for (const cut of CUTS) {
        const site = (await firstToLog(cut.sites.map((s) => job.clients.get(s)!), cut.when)).name as Site;
        cutSite.set(cut.during, site);
        const proxy = proxies.get(site)!;
        proxy.cut();
        const cutAt = Date.now();
        for (let status = await job.status(); !(status && cut.over(status)); status = await job.status()) {
          if (Date.now() - cutAt > 90_000) throw new Error(`${site} cut during ${cut.during}: the aggregator is still at ${JSON.stringify(status)} after 90 s`);
          await new Promise((r) => setTimeout(r, 50));
        }
        cutFor.set(cut.during, Date.now() - cutAt);
        proxy.restore();
        figures.add('links cut and restored');
      }
    };
    outcome = await runJob(fixture, { name: 'partition', port, addressFor: (site) => `127.0.0.1:${proxies.get(site)!.port}`, during, clientsAfterAggregator: true, timeoutMs: 240_000 });
  });
  afterAll(async () => {
    figures.print();
    for (const proxy of proxies.values()) await proxy.close();
    if (!process.env.FLOTILLA_KEEP_TEST_FILES) await fixture?.remove();
  });

  test('the job succeeds, every round recorded once', () => {
    expect(outcome.result.status).toBe('Succeeded');
    expect(outcome.result.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  test.each(CUTS)('the cut lands while its call is in flight ($during)', async (cut) => {
    expect((await logLines(outcome.clients.get(siteOf(cut))!)).filter(cut.completed)).toEqual([]);
  });

  test('the statistics phase closes on the quorum while one site is cut off', async () => {
    const summed = (await logLines(outcome.aggregator)).find((l) => l.message === 'federated statistics summed');
    figures.set('statistics summed over sites', String(summed?.sites));
    expect(summed?.sites).toBe(SITES.length - 1);
  });

  test.each(CUTS.slice(1))('a round closes on the quorum when a site is cut off during $during', (cut) => {
    const round = outcome.result.rounds.find((r) => r.round === cut.round)!;
    figures.set(`round ${round.round}: participants (${siteOf(cut)} cut during ${cut.during})`, round.participants.length);
    expect(round.participants).not.toContain(siteOf(cut));
    expect(round.participants).toHaveLength(SITES.length - 1);
  });

  test('every site cut off rejoins by itself once its link is back', () => {
    for (const cut of CUTS) figures.set(`${siteOf(cut)}: seconds cut off during ${cut.during}`, (cutFor.get(cut.during)! / 1000).toFixed(1));
    // Each cut site took part again: in a later round, and in the final evaluation.
    const rejoined = CUTS.map((cut) => [siteOf(cut), outcome.result.rounds.some((r) => r.round > (cut.round ?? 0) && r.participants.includes(siteOf(cut)))]);
    expect(rejoined).toEqual(CUTS.map((cut) => [siteOf(cut), true]));
    expect(outcome.result.finalEvaluation?.sites.map((s) => s.site).sort()).toEqual([...SITES].sort());
    expect(outcome.exitCodes).toEqual(ENDED_WELL);
  });
});
