import type { Model, Tensor } from '../federation/model.js';
import type { Strategy, StrategyName } from './strategy.js';

/** FedAvg and FedProx (Li et al. 2020) share the server side: w ← w + Δ. */
export class WeightedAverage implements Strategy {
  constructor(
    readonly name: StrategyName,
    readonly proximalMu: number,
  ) {}

  step(global: Model, sums: Float64Array[], totalWeight: number): void {
    global.forEach((t, k) => {
      const sum = sums[k]!;
      const w = t.data;
      for (let i = 0; i < w.length; i++) w[i]! += sum[i]! / totalWeight;
    });
  }

  state(): Tensor[] {
    return [];
  }

  restore(): void {}
}
