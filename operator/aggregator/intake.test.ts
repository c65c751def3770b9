import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { specOf, type Model } from '../federation/model.js';
import { tensorChunks } from '../federation/tensor-stream.js';
import { TrainIntake } from './intake.js';
import { RunningSum } from './running-sum.js';

const global: Model = [{ name: 'w', shape: [300_000], data: new Float32Array(300_000) }];
const chunksOf = (value: number) => [...tensorChunks([new Float32Array(300_000).fill(value)], 64 << 10)];

describe('TrainIntake', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-intake-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const intake = (sum: RunningSum, name: string) => new TrainIntake(specOf(global), sum, 2, path.join(dir, name), () => {});
  const total = (sum: RunningSum) => sum.sums[0]!.reduce((a, v) => a + Math.abs(v), 0) / 2 ** sum.fractionBits;

  it('refuses a chunk with NaN without folding it, and takes back the chunks before it', async () => {
    const sum = new RunningSum(global, 3);
    const update = intake(sum, 'nan');
    const chunks = chunksOf(1);
    update.take(chunks[0]!);
    update.take(chunks[1]!);
    // One NaN amid ones, inside a step of the fold's four (the fold is what finds it).
    const values = new Float32Array(chunks[2]!.data.byteLength / 4).fill(1);
    values[4097] = NaN;
    const poisoned = { ...chunks[2]!, data: Buffer.from(values.buffer) };
    expect(() => update.take(poisoned)).toThrow(
      expect.objectContaining({ reason: 'not_finite', message: expect.stringContaining('NaN or Infinity in tensor 0 ("w") at element 36865') as string }) as Error,
    );
    expect(total(sum)).toBe(2 * 1 * (2 * 16_384)); // weight · value · elements of two chunks
    await update.undo();
    expect(total(sum)).toBe(0);
  });

  it('makes a closing round wait for an undo already under way', async () => {
    const sum = new RunningSum(global, 3);
    const update = intake(sum, 'close');
    for (const chunk of chunksOf(3).slice(0, 4)) update.take(chunk);
    const undoing = update.undo();
    expect(update.revoke(false)).toBe(undoing);
    await undoing;
    expect(total(sum)).toBe(0);
  });

  it('stops an undo under way from touching the sums once a retry reset them', async () => {
    const sum = new RunningSum(global, 3);
    const update = intake(sum, 'retry');
    for (const chunk of chunksOf(5)) update.take(chunk);
    const undoing = update.undo();
    const revoked = update.revoke(true);
    sum.reset();
    // A new attempt's update lands in the fresh sums while the old journal is still being read.
    const fresh = intake(sum, 'fresh');
    for (const chunk of chunksOf(1)) fresh.take(chunk);
    await Promise.all([undoing, revoked]);
    expect(sum.weightedDeltaSums()[0]!.every((v) => v === 2)).toBe(true);
    await fresh.cleanup();
  });

  it('refuses a finite value beyond the exact range without folding any of its chunk', async () => {
    const sum = new RunningSum(global, 3);
    const update = intake(sum, 'huge');
    const chunks = chunksOf(1);
    update.take(chunks[0]!);
    const values = new Float32Array(chunks[1]!.data.byteLength / 4).fill(1);
    values[100] = 3e38;
    expect(() => update.take({ ...chunks[1]!, data: Buffer.from(values.buffer) })).toThrow(
      expect.objectContaining({ reason: 'out_of_range', message: expect.stringContaining('element 16484 is 3.00e+38') }),
    );
    expect(total(sum)).toBe(2 * 16_384);
    await update.undo();
    expect(sum.sums[0]!.every((v) => v === 0)).toBe(true);
  });
});
