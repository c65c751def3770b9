/**
 * The hostile-site table (hostile-cases.ts) against a real aggregator over mutual TLS: for every
 * case, x attacks once, and the test asserts the status x met, that every honest update was taken,
 * and that the job ended with the very result and the very bits of the final model of the run
 * without the attack. A case that names an item of issue 9 showed that item's defect before its fix.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { codeName } from '../support/hostile/grpc-wire.js';
import { CASES, type CaseClass } from './hostile-cases.js';
import { jobCredentials, runHostileJob, sameBits, type JobCredentials, type JobRun } from './hostile-job.js';
import { tempDir } from '../dataplane/fixtures.js';
import { FaultFigures } from './figures.js';

jest.setTimeout(60_000);

/** Runs under way at once: most of a run waits on sockets and fsyncs, so a few overlap well. */
const AT_ONCE = 3;

describe('a hostile site among honest ones', () => {
  let reference: JobRun;
  let credentials: JobCredentials;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const figures = new FaultFigures('hostile site');
  const byClass = new Map<CaseClass, number>();
  const runs = new Map<number, Promise<JobRun>>();

  /**
   * Case i's run, started with the next ones (up to AT_ONCE in all) so that they overlap; the
   * tests still take the results in order. A case marked alone starts with nothing else in flight.
   */
  const runOf = (i: number): Promise<JobRun> => {
    for (let j = i; j < Math.min(CASES.length, i + AT_ONCE); j++) {
      if (j > i && (CASES[i]!.alone || CASES[j]!.alone)) break;
      if (runs.has(j)) continue;
      const c = CASES[j]!;
      const run = runHostileJob({ phase: c.phase, at: c.at, run: c.run }, { speed: c.speed ?? {}, credentials });
      run.catch(() => {}); // its test reports it
      runs.set(j, run);
    }
    return runs.get(i)!;
  };

  beforeAll(async () => {
    tmp = await tempDir('hostile-pki');
    credentials = await jobCredentials(tmp.dir);
    reference = await runHostileJob(null, { credentials });
    expect(reference.digest?.status).toBe('Succeeded');
    expect(reference.honestRefusals).toEqual([]);
  });
  afterAll(async () => {
    await tmp?.remove();
    figures.add('cases tried', CASES.length);
    for (const [name, n] of byClass) figures.add(`cases of class ${name}`, n);
    figures.print();
  });

  CASES.forEach((c, i) => {
    byClass.set(c.class, (byClass.get(c.class) ?? 0) + 1);
    test(c.item ? `${c.name} (item ${c.item})` : c.name, async () => {
      const speed = c.speed ?? {};
      const attacked = await runOf(i);
      const met = attacked.outcome ? codeName(attacked.outcome.code) : 'no attack made';
      try {
        const expected = [c.expect].flat().map(codeName);
        expect({ met, details: attacked.outcome?.details }).toEqual({ met: expected.includes(met) ? met : expected.join(' or '), details: attacked.outcome?.details });
        expect(attacked.honestRefusals).toEqual([]);
        expect(attacked.digest).toEqual(reference.digest);
        expect(sameBits(attacked.model, reference.model)).toBe(true);
        c.check?.(attacked, { deadlineMs: speed.deadlineMs ?? 60_000 });
        figures.outcome('held', met);
      } catch (err) {
        figures.outcome(c.item ? `broken, item ${c.item}` : 'broken', met);
        throw err;
      }
    });
  });
});
