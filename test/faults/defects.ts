/**
 * A test that shows a defect of issue 9 not fixed yet: expected to fail (jest's test.failing), so
 * it flips, failing loudly, once the fix lands. FLOTILLA_FAULTS_STRICT=1 runs such tests as
 * ordinary ones, to read how each defect shows.
 */
import { test } from '@jest/globals';

/** Items whose fix is on this branch: their tests run as ordinary ones. One line to change when a fix lands. */
const FIXED = new Set<number>([]);

export function defect(item: number): typeof test | typeof test.failing {
  return FIXED.has(item) || process.env.FLOTILLA_FAULTS_STRICT ? test : test.failing;
}

/** The name of a defect's test: what it checks, and which item of the issue it shows. */
export const named = (what: string, item: number): string => `${what} (item ${item}${FIXED.has(item) ? '' : ', not fixed yet'})`;
