/**
 * `flotilla simulate` under asynchronous buffered aggregation (FedBuff): four hospitals, one of them
 * slow, a buffer of two. The test's own trainer moves the model half way to each site's target, so the
 * test redoes the aggregator's arithmetic from what summary.json says it did (who, trained on which
 * version, with which staleness weight) and finds the very model it made. The slow site's first
 * update is held until two versions were made without it, and counts with weight 1/(1+τ)^a.
 * Restarts are in asynchronous-restarts.test.ts.
 */
import { AsyncJob, D, EXPONENT, SERVER_LEARNING_RATE, SLOW, VERSIONS } from '../support/fedbuff/async-job.js';

describe('flotilla simulate with asynchronous buffered aggregation', () => {
  let job: AsyncJob;
  beforeAll(async () => {
    job = await AsyncJob.create();
  });
  afterAll(() => job?.close());

  it('fast sites make versions while the slow one trains, and its late update counts with its staleness weight', async () => {
    const { summary, w } = await job.simulate('slow');
    expect(summary.status).toBe('Succeeded');
    expect(summary.asynchronous).toEqual({ bufferSize: 2, maxStaleness: 100, staleness: 'Polynomial', stalenessExponent: EXPONENT, serverLearningRate: SERVER_LEARNING_RATE });
    expect(summary.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const record of summary.rounds) {
      expect(record.asynchronous!.version).toBe(record.round);
      // Sealed when full: exactly bufferSize updates make a version.
      expect(record.asynchronous!.updates.length).toBe(2);
      for (const u of record.asynchronous!.updates) {
        expect(u.staleness).toBe(record.round - 1 - u.trainedOn);
        expect(u.stalenessWeight).toBeCloseTo(1 / (1 + u.staleness) ** EXPONENT, 12);
      }
    }
    // Versions 1 and 2 were made without the slow site: it was still training on version 0.
    const firstWithSlow = summary.rounds.findIndex((r) => r.participants.includes(SLOW));
    expect(firstWithSlow).toBeGreaterThanOrEqual(2);
    const late = summary.rounds[firstWithSlow]!.asynchronous!.updates.find((u) => u.site === SLOW)!;
    expect(late.trainedOn).toBe(0);
    expect(late.staleness).toBeGreaterThanOrEqual(2);
    expect(late.stalenessWeight).toBeLessThan(0.6);
    // The model is the one those weights make (float32 rounding and the sum's fixed point aside).
    const expected = job.replay(summary)[VERSIONS]!;
    for (let j = 0; j < D; j++) expect(w[j]!).toBeCloseTo(expected[j]!, 4);
  }, 300_000);
});
