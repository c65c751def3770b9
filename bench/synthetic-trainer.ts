import type { Model } from '../operator/federation/model.js';
import type { Metrics, Trainer, TrainParams, TrainResult } from '../operator/trainer/trainer.js';
import { rng } from '../operator/process/random.js';

/**
 * The benchmark's trainer: a synthetic float32 model of a given size and no training, so that what
 * is measured is the data plane alone (TLS, gRPC, streaming aggregation). "Training" hands back a
 * fresh copy of the global model nudged by a seeded amount, so every update is real data that must
 * cross the wire and be folded in.
 */
export class SyntheticTrainer implements Trainer {
  constructor(
    private readonly parameters: number,
    private readonly tensorCount: number,
    private readonly site: number,
  ) {}

  async initialize(seed: number): Promise<Model> {
    const random = rng(seed);
    const per = Math.ceil(this.parameters / this.tensorCount);
    const model: Model = [];
    for (let i = 0, left = this.parameters; left > 0; i++, left -= per) {
      const n = Math.min(per, left);
      const data = new Float32Array(n);
      for (let j = 0; j < n; j++) data[j] = random() - 0.5;
      model.push({ name: `layer${i}.weight`, shape: [n], data });
    }
    return model;
  }

  async statistics(): Promise<Float64Array | null> {
    return null;
  }

  useStatistics(): void {}

  async evaluate(): Promise<Metrics> {
    return { numSamples: 1, loss: 0, accuracy: 0 };
  }

  async train(global: Model, _params: TrainParams, round: number): Promise<TrainResult> {
    const nudge = (this.site + round) * 1e-6;
    const model = global.map((t) => {
      const data = new Float32Array(t.data.length);
      for (let j = 0; j < data.length; j++) data[j] = t.data[j]! + nudge;
      return { name: t.name, shape: t.shape, data };
    });
    return { model, metrics: { numSamples: 100 + this.site, loss: 0, accuracy: 0 } };
  }

  async close(): Promise<void> {}
}
