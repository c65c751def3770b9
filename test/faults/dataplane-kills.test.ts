/**
 * The aggregator and the sites' clients SIGKILLed, at aimed points (every durable write and every
 * announcement a traced run passes) and at random moments, and restarted as Kubernetes would, on
 * the same volume with the same arguments: the job must end as the uninterrupted run did, every
 * round recorded once, no update a site was told was taken lost, the final model the same to the
 * tolerance docs/data-plane.md states.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { rng } from '../../operator/process/random.js';
import type { Fault } from '../support/restarting-role.js';
import { FaultFigures } from './figures.js';
import { ENDED_WELL, furthest, jobFixture, pointsPassed, REPRODUCIBILITY, runJob, SITES, strayFiles, updatesLost, type JobFixture, type JobOutcome } from './dataplane-job.js';

jest.setTimeout(240_000);

/** The job's end: what happens there is item 2's suite, below. */
const END_OF_JOB = /^(write model\.safetensors|write result\.json|job end told)/;
const SEED = 20261201;

describe('processes of the data plane killed and restarted', () => {
  let fixture: JobFixture;
  let reference: JobOutcome;
  let aggregatorPoints: Map<string, number>;
  let clientPoints: Map<string, number>;
  /** Each suite draws from its own generator, so one suite's draws do not depend on which others ran. */
  const draws = (seed: number) => {
    const random = rng(seed);
    return (lo: number, hi: number) => Math.round(lo + (hi - lo) * random());
  };
  const figures = new FaultFigures('data-plane kills');

  beforeAll(async () => {
    fixture = await jobFixture('kills');
    reference = await runJob(fixture, { name: 'reference', trace: true });
    expect(reference.result.status).toBe('Succeeded');
    aggregatorPoints = await pointsPassed(reference.aggregator);
    clientPoints = new Map();
    for (const role of reference.clients.values()) for (const [name, n] of await pointsPassed(role)) clientPoints.set(name, (clientPoints.get(name) ?? 0) + n);
    figures.set('seed of the random kills', SEED);
    const tally = (points: Map<string, number>) => [...points].map(([name, n]) => `${name} x${n}`).join(', ');
    figures.set('fault points the aggregator passed', tally(aggregatorPoints));
    figures.set('fault points the clients passed', tally(clientPoints));
  });
  afterAll(async () => {
    figures.print();
    if (!process.env.FLOTILLA_KEEP_TEST_FILES) await fixture?.remove();
  });

  /** Checks a run against the reference and counts its figures. */
  async function judge(what: string, outcome: JobOutcome, roles: 'aggregator' | 'clients') {
    const records = roles === 'aggregator' ? outcome.aggregator.records : [...outcome.clients.values()].flatMap((c) => c.records);
    const killed = records.filter((r) => r.ended !== 'exited');
    figures.add(`${what}: kills`, killed.length);
    figures.add(`${what}: kills at an aimed point`, killed.filter((r) => r.ended === 'at point').length);
    figures.add(`${what}: kills at a random moment`, killed.filter((r) => r.ended === 'killed').length);
    figures.add(`${what}: faults planned but not reached`, records.filter((r) => r.ended === 'exited').length);
    const rounds = outcome.result.rounds.map((r) => r.round);
    const lost = await updatesLost(outcome);
    const distance = furthest(outcome.model, reference.model);
    figures.add(`${what}: jobs with the wrong outcome`, outcome.result.status === reference.result.status ? 0 : 1);
    if (outcome.result.status !== reference.result.status) figures.set(`${what}: how the job ended`, `${outcome.result.status}: ${outcome.result.reason}`);
    figures.add(`${what}: rounds not recorded exactly once`, fixture.rounds - new Set(rounds).size + (rounds.length - new Set(rounds).size));
    figures.add(`${what}: updates accepted then lost`, lost.length);
    figures.set(`${what}: furthest from the uninterrupted model`, distance.toExponential(2));
    expect(outcome.exitCodes).toEqual(ENDED_WELL);
    expect(outcome.result.status).toBe('Succeeded');
    expect(rounds).toEqual(reference.result.rounds.map((r) => r.round));
    expect(lost).toEqual([]);
    expect(distance).toBeLessThan(REPRODUCIBILITY);
    expect(outcome.result.finalEvaluation?.eval?.accuracy).toBeCloseTo(reference.result.finalEvaluation!.eval!.accuracy, 5);
    return killed.length;
  }

  /**
   * The three runs under faults, one after the other (at once, on a loaded 2-core machine, their
   * processes starve each other past the job's heartbeat timeouts); each test awaits its own.
   */
  let runs: { aggregator: Promise<JobOutcome>; clients: Promise<JobOutcome>; end: Promise<JobOutcome> };
  let endPoints: string[];

  beforeAll(() => {
    const betweenAggregator = draws(SEED);
    // Every point before the job's end at its first arrival after a start; the commit point and
    // the acceptance of an update at their second too.
    const aimed: Fault[] = [...aggregatorPoints.keys()]
      .filter((name) => !END_OF_JOB.test(name))
      .flatMap((name) => (/^(write state\.json|update accepted)/.test(name) ? [`${name}@1`, `${name}@2`] : [`${name}@1`]))
      .map((point) => ({ point, killAfterMs: 8_000 }));
    // A random moment of the incarnation's work (its clock starts once it has loaded), but never past
    // its first commit: were the kills timed alone, a fast machine could carry the job through its
    // last rounds between two kills and the faults planned would outlast it (the count would hang
    // on the machine's speed). So the aimed kills commit at most 6 of the 9 checkpoints before the
    // final evaluation, and these none: every fault planned lands before the job's end.
    const randomKills: Fault[] = Array.from({ length: Math.max(8, 22 - aimed.length) }, () => ({ point: 'write state.json synced@1', killAfterMs: betweenAggregator(300, 2_500) }));
    figures.set('aggregator: aimed points', aimed.map((f) => f.point).join(', '));

    const betweenClients = draws(SEED + 1);
    const clientAimed = [...clientPoints.keys()].filter((name) => !name.startsWith('INITIALIZE'));
    // Each site: a kill at each aimed point (in training, at a round picked at random), and a kill
    // at a random moment after the first training one.
    const clientFaults = Object.fromEntries(
      SITES.map((site) => [
        site,
        clientAimed.flatMap((name): Fault[] => {
          const training = name.startsWith('TRAIN');
          const atPoint = { point: `${name}@${training ? betweenClients(1, 3) : 1}`, killAfterMs: 6_000 };
          return training && name.endsWith('streamed') ? [atPoint, { killAfterMs: betweenClients(500, 3_000) }] : [atPoint];
        }),
      ]),
    );
    figures.set('clients: aimed points', clientAimed.join(', '));

    // The job's end: a kill at each of its durable writes and at the first announcement of success,
    // one after the other, each restart going on from where the last one stopped.
    // The final checkpoint (DONE) comes after result.json: in the incarnation that follows the kill
    // at result.json, its first checkpoint written is that one.
    const writes = [...aggregatorPoints.keys()].filter((name) => END_OF_JOB.test(name) && name.startsWith('write'));
    endPoints = [...writes, 'write state.json synced', 'write state.json renamed', 'job end told (succeeded)'];
    figures.set("job's end: aimed points", endPoints.join(', '));
    const after = (run: Promise<unknown>) => run.then(() => undefined, () => undefined);
    const aggregator = runJob(fixture, { name: 'aggregator-kills', aggregatorFaults: [...aimed, ...randomKills] });
    const clients = after(aggregator).then(() => runJob(fixture, { name: 'client-kills', clientFaults }));
    const end = after(clients).then(async () => {
      const short = await jobFixture('end-of-job', { rounds: 2 });
      const faults = endPoints.map((name) => ({ point: `${name}@1`, killAfterMs: 60_000 }));
      return runJob(short, { name: 'end-of-job', faultTheEnd: true, aggregatorFaults: faults }).finally(() => (process.env.FLOTILLA_KEEP_TEST_FILES ? undefined : short.remove()));
    });
    runs = { aggregator, clients, end };
    for (const run of Object.values(runs)) run.catch(() => {}); // each test reports its own
  });

  describe('the aggregator', () => {
    test('SIGKILLed 20 times and more, it resumes each time; the job ends as the uninterrupted one', async () => {
      expect(await judge('aggregator', await runs.aggregator, 'aggregator')).toBeGreaterThanOrEqual(20);
    });

    test('no file of an interrupted write outlives the restart (item 9)', async () => {
      const stray = await strayFiles((await runs.aggregator).stateDir);
      figures.add('aggregator: stray files left in the state dir', stray.length);
      expect(stray).toEqual([]);
    });
  });

  describe('the clients', () => {
    test('SIGKILLed 20 times and more across the sites, at aimed points and at random; the job ends as the uninterrupted one', async () => {
      expect(await judge('clients', await runs.clients, 'clients')).toBeGreaterThanOrEqual(20);
    });
  });

  describe("the job's end", () => {
    test('an aggregator killed at each durable write of the end, and once it told a site the job succeeded, comes back to the same success (item 2)', async () => {
      const outcome = await runs.end;
      const ended = outcome.aggregator.records.map((r) => r.ended);
      figures.add("job's end: kills at an aimed point", ended.filter((e) => e === 'at point').length);
      figures.add("job's end: jobs with the wrong outcome", outcome.result.status === 'Succeeded' ? 0 : 1);
      expect(ended).toEqual(endPoints.map(() => 'at point'));
      expect(outcome.exitCodes).toEqual(ENDED_WELL);
      expect(outcome.result).toMatchObject({ status: 'Succeeded', model: 'model.safetensors' });
      expect(outcome.result.rounds.map((r) => r.round)).toEqual([1, 2]);
    });
  });
});
