import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { specOf, type Model } from '../federation/model.js';
import { tensorChunks } from '../federation/tensor-stream.js';
import { Seeded } from '../../test/support/attacks.js';
import { Refusal } from './refusal.js';
import { aggregateVectors, createRobustRule, type RobustSettings } from './robust-rules.js';
import { SpillIntake } from './spill-intake.js';
import { SpilledRound } from './spilled-round.js';

/** A robust round's updates arrive as chunk streams, are spilled, and are combined block by block. */
describe('SpilledRound and SpillIntake', () => {
  const random = new Seeded(11);
  // Two tensors, so that blocks cross a tensor's end; sizes that no block size divides.
  const global: Model = [
    { name: 'w', shape: [1001], data: Float32Array.from({ length: 1001 }, () => random.gaussian()) },
    { name: 'b', shape: [3], data: Float32Array.of(0.5, -0.5, 2) },
  ];
  const flat = (m: Float32Array[]) => Float64Array.from([...m[0]!, ...m[1]!]);
  const globalFlat = flat(global.map((t) => t.data));
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-spill-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** A site's model: the global one moved by a delta of scale `s`, one hostile copy far away. */
  const siteModel = (s: number) => global.map((t) => t.data.map((x) => x + s * random.gaussian()));

  async function spill(round: SpilledRound, site: string, model: Float32Array[], norms: number[] = []): Promise<SpillIntake> {
    const intake = new SpillIntake(specOf(global), global, round, site, path.join(dir, `${site}.spill`), (norm) => norms.push(norm));
    for (const chunk of tensorChunks(model, 256)) {
      intake.take(chunk);
      await intake.drained();
    }
    await intake.finish();
    return intake;
  }

  it.each<[string, RobustSettings]>([
    ['Median', { rule: 'Median' }],
    ['TrimmedMean', { rule: 'TrimmedMean', trimFraction: 0.25 }],
    ['Krum', { rule: 'Krum', hostileSites: 1 }],
    ['MultiKrum with a norm bound', { rule: 'MultiKrum', hostileSites: 1, selectedUpdates: 3, normBound: 3 }],
  ])('%s block by block equals the rule over whole vectors, whatever the block size', async (_name, settings) => {
    const models = ['e', 'b', 'a', 'd', 'c'].map((_, i) => siteModel(i === 3 ? 5 : 0.1));
    const expected = aggregateVectors(
      createRobustRule(settings)!,
      // In site order: a, b, c, d, e.
      [2, 1, 4, 3, 0].map((i) => flat(models[i]!).map((x, j) => x - globalFlat[j]!)),
      settings.normBound,
    );
    for (const blockBytes of [8 * 5, 8 * 5 * 7, 8 * 5 * 4096]) {
      const round = new SpilledRound(createRobustRule(settings)!, settings.normBound, blockBytes);
      // Arrival order differs from site order: the result must not care.
      for (const [i, site] of ['e', 'b', 'a', 'd', 'c'].entries()) (await spill(round, site, models[i]!)).commit();
      const out = await round.aggregate(global);
      const got = flat(out.map((t) => Float32Array.from(t)));
      expect(Math.max(...got.map((x, j) => Math.abs(x - expected[j]!)))).toBeLessThan(1e-5);
      await round.reset();
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it('spills an accepted update whole and reports its norm', async () => {
    const round = new SpilledRound(createRobustRule({ rule: 'Median' })!, undefined);
    const norms: number[] = [];
    const model = siteModel(0.1);
    (await spill(round, 'a', model, norms)).commit();
    expect(round.count).toBe(1);
    expect(await readdir(dir)).toEqual(['a.spill']);
    const delta = flat(model).map((x, j) => x - globalFlat[j]!);
    expect(norms[0]).toBeCloseTo(Math.hypot(...delta), 6);
    // One update: the median is the update itself.
    const out = await round.aggregate(global);
    expect(out[1]![2]).toBeCloseTo(delta[1003]!, 6);
  });

  it('leaves nothing behind of a refused, cut or revoked update', async () => {
    const round = new SpilledRound(createRobustRule({ rule: 'Median' })!, undefined);
    // A NaN in the third chunk.
    const bad = siteModel(0.1);
    bad[0]![600] = NaN;
    const refused = new SpillIntake(specOf(global), global, round, 'nan', path.join(dir, 'nan.spill'), () => {});
    const chunks = [...tensorChunks(bad, 1024)];
    refused.take(chunks[0]!);
    expect(() => refused.take(chunks[2]!)).toThrow(Refusal);
    await refused.undo();
    // A stream that stops short.
    const cut = new SpillIntake(specOf(global), global, round, 'cut', path.join(dir, 'cut.spill'), () => {});
    cut.take([...tensorChunks(siteModel(0.1), 1024)][0]!);
    await expect(cut.finish()).rejects.toThrow(Refusal);
    await cut.undo();
    // A value beyond the range, in the second tensor.
    const far = siteModel(0.1);
    far[1]![1] = 1e30;
    const outOfRange = new SpillIntake(specOf(global), global, round, 'far', path.join(dir, 'far.spill'), () => {});
    const farChunks = [...tensorChunks(far, 1024)];
    for (const chunk of farChunks.slice(0, -1)) outOfRange.take(chunk);
    expect(() => outOfRange.take(farChunks.at(-1)!)).toThrow(/moves the model by 1.00e\+30/);
    await outOfRange.undo();
    // Revoked by a close while it arrived.
    const late = new SpillIntake(specOf(global), global, round, 'late', path.join(dir, 'late.spill'), () => {});
    late.take([...tensorChunks(siteModel(0.1), 1024)][0]!);
    await late.revoke();
    expect(() => late.take([...tensorChunks(siteModel(0.1), 1024)][1]!)).toThrow(/the round closed/);
    expect(round.count).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });
});
