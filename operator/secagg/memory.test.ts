import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';

/**
 * The aggregator folds masked updates chunk by chunk: its memory through the collect stage is one
 * running sum (allocated before it) and a chunk, whatever the number of sites. Measured in a child
 * process with the garbage collector exposed (bench/secagg-memory.ts, from the build).
 */
function measure(sites: number): { vectorBytes: number; growthBytes: number; maxError: number } {
  const script = path.join(packageRoot, 'dist/bench/secagg-memory.js');
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', script, String(sites), String(1 << 19)], { encoding: 'utf8' }));
}

describe("the aggregator's memory in the collect stage", () => {
  it('stays below half a model for 3 sites and for 8 (holding the updates would take 3 and 8 models)', () => {
    for (const sites of [3, 8]) {
      const { vectorBytes, growthBytes, maxError } = measure(sites);
      expect(vectorBytes).toBe(2 << 20);
      expect(growthBytes).toBeLessThan(vectorBytes / 2);
      // And the round it measured came out right.
      expect(maxError).toBeLessThan(1e-6);
    }
  });
});
