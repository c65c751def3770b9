import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { Refusal } from './refusal.js';
import { MAX_RECORDS, SiteRecords } from './site-records.js';

const evaluation = (numSamples: number) => ({ kind: 'EVALUATE', eval: { numSamples, loss: 0, accuracy: 0, extra: {} } }) as unknown as UpdateHeader__Output;
const accepts = (records: SiteRecords, site: string, header: UpdateHeader__Output) => {
  try {
    records.check(site, header);
    return true;
  } catch (err) {
    if (err instanceof Refusal) return false;
    throw err;
  }
};

describe('SiteRecords', () => {
  it('bounds test figures by the largest test split the trainer can hold out of that many training records', () => {
    for (const f of [0.01, 0.2, 0.34, 0.5, 0.9]) {
      // As the built-in trainer splits: ceil(f·rows) held out, the rest trained on.
      const largest = new Map<number, number>();
      for (let rows = 2; rows < 20_000; rows++) {
        const test = Math.ceil(f * rows);
        if (rows - test >= 1) largest.set(rows - test, Math.max(largest.get(rows - test) ?? 0, test));
      }
      for (const [training, test] of largest) {
        if (training > 1500) continue; // rows past 20,000 could give more
        const records = new SiteRecords(f, { a: training });
        expect([f, training, accepts(records, 'a', evaluation(test)), accepts(records, 'a', evaluation(test + 1))]).toEqual([f, training, true, false]);
      }
    }
  });

  it('holds a site that sent no statistics to the largest count another sent, and every site to MAX_RECORDS without a statistics phase', () => {
    const records = new SiteRecords(0.5, { a: 10, b: 40 });
    const train = (numSamples: number) => ({ kind: 'TRAIN', numSamples }) as unknown as UpdateHeader__Output;
    expect([accepts(records, 'c', train(40)), accepts(records, 'c', train(41)), accepts(records, 'a', train(11))]).toEqual([true, false, false]);
    const none = new SiteRecords(null);
    expect([accepts(none, 'a', train(MAX_RECORDS)), accepts(none, 'a', evaluation(MAX_RECORDS + 1))]).toEqual([true, false]);
  });

  it('refuses statistics no records could give', () => {
    const refused = (v: number[]) => {
      try {
        SiteRecords.checkStatistics(Float64Array.from(v));
        return false;
      } catch (err) {
        return err instanceof Refusal;
      }
    };
    // A constant feature: Σx² = (Σx)²/n, up to rounding.
    expect(refused([3, 0.3, 0.030000000000000006])).toBe(false);
    expect(refused([3, 1, 0.1])).toBe(true);
    expect(refused([0, 0, 0])).toBe(true);
    expect(refused([2.5, 1, 1])).toBe(true);
  });
});
