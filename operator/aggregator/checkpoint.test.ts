import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CheckpointStore, type Checkpoint } from './checkpoint.js';

describe('CheckpointStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-checkpoint-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const checkpoint = (round: number): Checkpoint => ({
    position: { phase: 'TRAIN', round },
    outcome: null,
    statistics: [1, 2.5],
    history: [],
    finalEvaluation: null,
    model: [{ name: 'w', shape: [2, 2], data: Float32Array.of(1, 2, 3, round) }],
    optimizer: [{ name: 'm/0', shape: [4], data: Float32Array.of(0.5, 0, 0, 0) }],
  });

  it('loads what it saved last, and keeps only that checkpoint’s files', async () => {
    const store = new CheckpointStore(dir, 'hospitals/heart');
    expect(await store.load()).toBeNull();
    await store.save(checkpoint(3));
    await store.save(checkpoint(4));
    const loaded = await new CheckpointStore(dir, 'hospitals/heart').load();
    expect(loaded).toEqual(checkpoint(4));
    expect((await readdir(dir)).sort()).toEqual(['model-000002.safetensors', 'optimizer-000002.safetensors', 'state.json']);
  });

  it('refuses to resume another job from the same state dir', async () => {
    await new CheckpointStore(dir, 'hospitals/heart').save(checkpoint(1));
    await expect(new CheckpointStore(dir, 'hospitals/lungs').load()).rejects.toThrow(
      `${dir} holds a checkpoint of job hospitals/heart, not hospitals/lungs: use a fresh state dir`,
    );
  });
});
