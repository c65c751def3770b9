import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { specOf, type Model } from '../federation/model.js';
import { tensorChunks } from '../federation/tensor-stream.js';
import { l2Norm } from '../privacy/clipping.js';
import { TrainIntake } from './intake.js';
import { RunningSum } from './running-sum.js';

/** Central DP: the aggregator clips each update as it streams in, without holding it whole. */
describe('TrainIntake with a clip norm', () => {
  const n = 200_000;
  const global: Model = [
    { name: 'w', shape: [n], data: new Float32Array(n).fill(0.25) },
    { name: 'b', shape: [1], data: Float32Array.of(-1) },
  ];
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-clip-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** The norm of what the sum holds (it keeps integers in units of 2^-fractionBits). */
  const normOf = (sum: RunningSum) => l2Norm(sum.sums) / 2 ** sum.fractionBits;

  /** An update whose delta from the global model is `delta` everywhere. */
  const chunksOf = (delta: number) => [...tensorChunks([new Float32Array(n).fill(0.25 + delta), Float32Array.of(-1 + delta)], 64 << 10)];

  async function take(sum: RunningSum, delta: number, clipNorm: number, norms: number[]) {
    const intake = new TrainIntake(specOf(global), sum, 1, path.join(dir, `u${norms.length}.${delta}`), () => {}, { clipNorm, onNorm: (x) => norms.push(x) });
    for (const chunk of chunksOf(delta)) intake.take(chunk);
    await intake.finish();
    return intake;
  }

  it('scales an update over the clip norm to it, and leaves one under it whole', async () => {
    const sum = new RunningSum(global, 4);
    const norms: number[] = [];
    const big = await take(sum, 0.01, 0.5, norms); // ‖Δ‖ = 0.01·√(n+1) ≈ 4.47
    big.commit();
    await big.cleanup();
    expect(norms[0]).toBeCloseTo(0.01 * Math.sqrt(n + 1), 4);
    expect(normOf(sum)).toBeCloseTo(0.5, 4);
    // The direction is kept: every coordinate the same.
    expect(Math.abs(sum.sums[0]![0]! - sum.sums[1]![0]!)).toBeLessThanOrEqual(1);

    const small = await take(sum, 0.0001, 0.5, norms); // ≈ 0.0447, under C
    small.commit();
    await small.cleanup();
    expect(normOf(sum)).toBeCloseTo(0.5 + 0.0001 * Math.sqrt(n + 1), 4);
    expect(sum.totalWeight).toBe(2);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes back all of a clipped update that is refused after its clip', async () => {
    const sum = new RunningSum(global, 4);
    const update = await take(sum, 0.02, 1, []);
    expect(normOf(sum)).toBeCloseTo(1, 4);
    await update.undo();
    // Exactly: the fold and the clip's taking back are undone to the bit.
    expect(sum.sums.every((t) => t.every((q) => q === 0))).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  it('bounds what any number of large updates can add: k clipped updates sum to at most k·C', async () => {
    const sum = new RunningSum(global, 4);
    for (const delta of [0.5, -0.3, 2, 0.05]) (await take(sum, delta, 0.2, [])).commit();
    expect(normOf(sum)).toBeLessThanOrEqual(4 * 0.2 + 1e-6);
  });
});
