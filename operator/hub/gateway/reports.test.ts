import { describe, expect, test } from '@jest/globals';
import type { AssignmentStatus } from '../../sitelink/assignment.js';
import { keptReports, keptVersion } from './reports.js';

const report = (job: string, over: Partial<AssignmentStatus> = {}): AssignmentStatus => ({
  namespace: 'research',
  job,
  jobUid: `uid-${job}`,
  phase: 'Running',
  message: '',
  ...over,
});

describe("what the gateway keeps of an agent's report", () => {
  const reportable = new Set(['research/heart/uid-heart', 'research/lung/uid-lung']);

  test('only jobs the hub gave the site, of that incarnation, once each', () => {
    const kept = keptReports(
      [report('heart'), report('made-up'), report('lung', { jobUid: 'another-uid' }), report('heart', { phase: 'Failed' }), report('lung')],
      reportable,
    );
    expect(kept).toEqual([report('heart'), report('lung')]);
  });

  test('30,000 made-up entries and a message of megabytes come to nothing much', () => {
    const flood = Array.from({ length: 30_000 }, (_, i) => report(`job-${i}`));
    const kept = keptReports([...flood, report('heart', { message: 'x'.repeat(2 << 20) })], reportable);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.message).toHaveLength(1024);
  });

  test('a version of a megabyte is cut to 64 characters', () => {
    expect(keptVersion('1'.repeat(1 << 20))).toHaveLength(64);
    expect(keptVersion('0.1.0')).toBe('0.1.0');
  });
});
