import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Model } from '../federation/model.js';
import { RunningSum } from './running-sum.js';
import { UndoJournal } from './undo-journal.js';

describe('UndoJournal with RunningSum', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-journal-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('takes back exactly the chunks a refused update folded, leaving the honest sum intact', async () => {
    const global: Model = [
      { name: 'w', shape: [4, 1000], data: new Float32Array(4000).fill(1) },
      { name: 'b', shape: [3], data: new Float32Array([0, 0, 0]) },
    ];
    const sum = new RunningSum(global);
    // An honest update, whole: w = 3 everywhere, weight 2.
    sum.fold(0, 0, new Float32Array(4000).fill(3), 2);
    sum.fold(1, 0, new Float32Array([3, 3, 3]), 2);
    const honest = sum.sums.map((s) => new Float32Array(s));

    // A hostile one, interleaved chunk by chunk, refused after three chunks.
    const journal = UndoJournal.create(path.join(dir, 'x.undo'));
    const chunks: [number, number, Float32Array][] = [
      [0, 0, new Float32Array(1500).map((_, i) => i * 0.25)],
      [0, 1500, new Float32Array(2500).fill(-7.5)],
      [1, 0, new Float32Array([1e3, -2e3, 0.5])],
    ];
    for (const [tensor, offset, values] of chunks) {
      journal.record(tensor, offset, values);
      sum.fold(tensor, offset, values, 5);
      await journal.drained();
    }
    expect(sum.sums[1]![0]).not.toBe(honest[1]![0]);
    await journal.replay((tensor, offset, values) => sum.unfold(tensor, offset, values, 5));

    sum.sums.forEach((s, k) => s.forEach((v, i) => expect(Math.abs(v - honest[k]![i]!)).toBeLessThan(1e-3)));
    await expect(stat(journal.path)).rejects.toThrow(/ENOENT/);
  });

  it('leaves nothing behind when discarded', async () => {
    const journal = UndoJournal.create(path.join(dir, 'y.undo'));
    journal.record(0, 0, new Float32Array(10));
    await journal.discard();
    await expect(stat(journal.path)).rejects.toThrow(/ENOENT/);
  });
});
