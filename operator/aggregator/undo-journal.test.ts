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

  it('takes back exactly the chunks a refused update folded, leaving the honest sum bit for bit', async () => {
    const global: Model = [
      { name: 'w', shape: [4, 1000], data: new Float32Array(4000).map((_, i) => Math.sin(i)) },
      { name: 'b', shape: [3], data: new Float32Array([0, 0, 0]) },
    ];
    const sum = new RunningSum(global, 2);
    // An honest update, whole, weight 2.
    sum.fold(0, 0, new Float32Array(4000).map((_, i) => Math.sin(i) + Math.cos(i) / 7), 2);
    sum.fold(1, 0, new Float32Array([0.3, -0.1, 1e-7]), 2);
    const honest = sum.sums.map((s) => new Float64Array(s));

    // A hostile one, interleaved chunk by chunk, refused after three chunks: values large enough
    // that float32 would have lost the honest update's digits under them.
    const journal = UndoJournal.create(path.join(dir, 'x.undo'));
    const chunks: [number, number, Float32Array][] = [
      [0, 0, new Float32Array(1500).map((_, i) => i * 1e4 + 0.125)],
      [0, 1500, new Float32Array(2500).fill(-7.5e5)],
      [1, 0, new Float32Array([1e5, -2e5, 0.5])],
    ];
    for (const [tensor, offset, values] of chunks) {
      journal.record(tensor, offset, values);
      sum.fold(tensor, offset, values, 5);
      await journal.drained();
    }
    expect(sum.sums[1]![0]).not.toBe(honest[1]![0]);
    await journal.replay((tensor, offset, values) => sum.unfold(tensor, offset, values, 5));

    expect(sum.sums.map((s, k) => Buffer.from(s.buffer).equals(Buffer.from(honest[k]!.buffer)))).toEqual([true, true]);
    await expect(stat(journal.path)).rejects.toThrow(/ENOENT/);
  });

  it('leaves nothing behind when discarded', async () => {
    const journal = UndoJournal.create(path.join(dir, 'y.undo'));
    journal.record(0, 0, new Float32Array(10));
    await journal.discard();
    await expect(stat(journal.path)).rejects.toThrow(/ENOENT/);
  });
});
