/**
 * `flotilla simulate` under asynchronous buffered aggregation, with the aggregator killed: while its
 * buffer holds an accepted update (the restarted one resumes with the buffer, and the job ends with
 * the same number of versions, no accepted update lost or applied twice), and between its trail's
 * record of an accepted update and the update being durable (the site sends it again, and the two
 * audit trails agree). The job is that of asynchronous.test.ts.
 */
import { AsyncJob, D, VERSIONS, logLines } from '../support/fedbuff/async-job.js';

describe('flotilla simulate with asynchronous buffered aggregation, across aggregator crashes', () => {
  let job: AsyncJob;
  beforeAll(async () => {
    job = await AsyncJob.create();
  });
  afterAll(() => job?.close());

  it('an aggregator killed while its buffer holds an accepted update resumes with it: same versions, no update lost or applied twice', async () => {
    const { summary, w, stderr, log, atKill } = await job.simulate('restart', true);
    expect(stderr).toMatch(/the aggregator was killed \(SIGKILL\); restarting it/);
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(summary.rounds.map((r) => r.asynchronous!.updates.length)).toEqual([2, 2, 2, 2, 2, 2]);
    const applied = summary.rounds.flatMap((r) => r.asynchronous!.updates.map((u) => `${u.site}@${u.trainedOn}`));
    expect(new Set(applied).size).toBe(applied.length);
    // Every training update the aggregator said it accepted (it has tensors; an evaluation has none), before the kill and after, was applied.
    const accepted = logLines(log)
      .filter((l) => l.message === 'update accepted' && (l.round as number) >= 1 && (l.bytes as number) > 0)
      .map((l) => `${l.site as string}@${(l.round as number) - 1}`);
    expect(accepted.length).toBeGreaterThanOrEqual(2 * VERSIONS);
    expect(accepted.filter((key) => !applied.includes(key))).toEqual([]);
    // What the buffer held at the kill was applied in the version the restarted aggregator made next.
    expect(atKill).not.toBeNull();
    const next = summary.rounds[atKill!.version]!.asynchronous!.updates.map((u) => `${u.site}@${u.trainedOn}`);
    for (const update of atKill!.updates) expect(next).toContain(update);
    const expected = job.replay(summary)[VERSIONS]!;
    for (let j = 0; j < D; j++) expect(w[j]!).toBeCloseTo(expected[j]!, 4);
  }, 300_000);

  it('an update whose answer a crash cut off is sent again and taken once: the trails of the sites and the job agree', async () => {
    // The aggregator kills itself after recording an accepted update in its trail, before it is durable and before its site hears:
    // at the 12th acceptance, about version 4 of 6, and a restarted one (armed alike) finishes before its own 12th.
    const { summary, w, stderr, siteLogs } = await job.simulate('lost-answer', false, { FLOTILLA_FAULT_POINT: 'update accepted@12' });
    expect(stderr).toMatch(/the aggregator was killed \(SIGKILL\); restarting it/);
    expect(summary.status).toBe('Succeeded');
    expect(siteLogs).toMatch(/update sent again after its answer was lost/);
    // simulate holds each site's trail against the job's (it exits 1 otherwise): every accepted update is in both.
    expect(summary.audit!.sites.every((t) => t.missingFromJob.length === 0 && t.missingFromSite.length === 0)).toBe(true);
    expect(summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    const applied = summary.rounds.flatMap((r) => r.asynchronous!.updates.map((u) => `${u.site}@${u.trainedOn}`));
    expect(new Set(applied).size).toBe(applied.length);
    const expected = job.replay(summary)[VERSIONS]!;
    for (let j = 0; j < D; j++) expect(w[j]!).toBeCloseTo(expected[j]!, 4);
  }, 300_000);
});
