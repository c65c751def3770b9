import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withControlVariates } from '../federation/control-variates.js';
import { cloneModel, specOf, type Model } from '../federation/model.js';
import { tensorChunks } from '../federation/tensor-stream.js';
import { CheckpointStore } from './checkpoint.js';
import { TrainIntake } from './intake.js';
import { Refusal } from './refusal.js';
import { RunningSum } from './running-sum.js';
import { Scaffold } from './scaffold.js';

const N = 50_000;
const tensor = (name: string, value: number) => ({ name, shape: [N], data: new Float32Array(N).fill(value) });
/** x = 1 everywhere and c = 0.25, as the aggregator holds a SCAFFOLD job's model. */
const held = (): Model => withControlVariates([tensor('w', 1)], [tensor('w', 0.25)]);
const flat = (m: Model) => m.map((t) => [...new Set(t.data)]);

describe("SCAFFOLD's server control variate", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-scaffold-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function fold(sum: RunningSum, model: Model, update: Model, weight: number, name: string, poisonLast = false): Promise<void> {
    const intake = new TrainIntake(specOf(model), sum, weight, path.join(dir, name), () => {});
    const chunks = [...tensorChunks(update.map((t) => t.data), 64 << 10)];
    if (poisonLast) {
      const last = chunks.at(-1)!;
      chunks[chunks.length - 1] = { ...last, data: Buffer.from(new Float32Array(last.data.byteLength / 4).fill(NaN).buffer) };
    }
    try {
      for (const chunk of chunks) intake.take(chunk);
      await intake.cleanup();
    } catch (err) {
      expect(err).toBeInstanceOf(Refusal);
      await intake.undo();
      return;
    }
    sum.totalWeight += weight;
  }

  it('is left exactly as it was by a refused update, with the model', async () => {
    // Site a: x + 2, c + 1 (weight 1). Site b sends its model delta whole, then a NaN in its control variate: refused.
    const site = (dx: number, dc: number) => withControlVariates([tensor('w', 1 + dx)], [tensor('w', 0.25 + dc)]);
    const alone = held();
    const sumAlone = new RunningSum(alone, 2);
    await fold(sumAlone, alone, site(2, 1), 1, 'a0');
    new Scaffold(1, 2).step(alone, sumAlone.weightedDeltaSums(), sumAlone.totalWeight, 1);

    const refused = held();
    const sum = new RunningSum(refused, 2);
    await fold(sum, refused, site(2, 1), 1, 'a1');
    await fold(sum, refused, site(-8, -4), 3, 'b1', true);
    new Scaffold(1, 2).step(refused, sum.weightedDeltaSums(), sum.totalWeight, 1);

    expect(flat(refused)).toEqual(flat(alone));
    // x moved by the one delta, c by |S|/N = 1/2 of its delta.
    expect(flat(refused)).toEqual([[3], [0.75]]);
  });

  it('is checkpointed and resumed with the model', async () => {
    const store = new CheckpointStore(dir, 'ns/job');
    const model = held();
    model[1]!.data[7] = -0.5;
    await store.save({ position: { phase: 'TRAIN', round: 3 }, outcome: null, statistics: null, history: [], finalEvaluation: null, model: cloneModel(model), optimizer: [] });
    const resumed = await new CheckpointStore(dir, 'ns/job').load();
    expect(resumed!.model!.map((t) => t.name)).toEqual(['w', 'scaffold.c/w']);
    expect(Buffer.from(resumed!.model![1]!.data.buffer).equals(Buffer.from(model[1]!.data.buffer))).toBe(true);
  });
});
