import { isControlVariate } from '../federation/control-variates.js';
import type { Model, Tensor } from '../federation/model.js';
import type { Strategy } from './strategy.js';

/**
 * SCAFFOLD's server step (Karimireddy et al. 2020, Algorithm 1, lines 16-17), over a global model
 * that carries the server's control variate c as tensors of its own (federation/control-variates.ts):
 *   x ← x + η_g · Δx          Δx = the weighted mean of the sites' model deltas
 *   c ← c + (|S|/N) · Δc      Δc = the weighted mean of the sites' control-variate deltas
 * so c stays the mean of the N sites' c_i when |S| of them took part. The paper averages uniformly;
 * here both means are weighted by sample count, as FedAvg's is. c is part of the model, so the
 * checkpoint, the undo journal and a refused update treat it exactly as the model.
 */
export class Scaffold implements Strategy {
  readonly name = 'SCAFFOLD';
  readonly proximalMu = 0;

  constructor(
    private readonly serverLearningRate: number,
    /** N: every site of the job, sampled or not. */
    private readonly sites: number,
  ) {}

  step(global: Model, sums: Float64Array[], totalWeight: number, updates: number): void {
    global.forEach((t, k) => {
      const scale = (isControlVariate(t) ? updates / this.sites : this.serverLearningRate) / totalWeight;
      const sum = sums[k]!;
      const w = t.data;
      for (let i = 0; i < w.length; i++) w[i]! += scale * sum[i]!;
    });
  }

  state(): Tensor[] {
    return [];
  }

  restore(): void {}
}
