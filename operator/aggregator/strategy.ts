import type { Model, Tensor } from '../federation/model.js';
import type { FederatedJobSpec } from '../api/federatedjob.js';
import { ServerOptimizer, type ServerOptimizerKind, type ServerOptimizerSettings } from './server-optimizer.js';

export type StrategyName = FederatedJobSpec['strategy']['name'];

/**
 * How a round's updates become the next global model. Every strategy starts from the weighted mean
 * delta Δ = Σ n_i·(w_i − w) / Σ n_i, which the running sum yields without holding any update.
 */
export interface Strategy {
  readonly name: StrategyName;
  /** The proximal weight the sites train with (FedProx); 0 otherwise. */
  readonly proximalMu: number;
  /** Moves the global model in place, given the round's Σ n_i·Δ_i (overwritten) and Σ n_i. */
  step(global: Model, weightedDeltaSums: Float32Array[], totalWeight: number): void;
  /** The optimiser's state as tensors, for the checkpoint (empty for FedAvg and FedProx). */
  state(): Tensor[];
  restore(tensors: readonly Tensor[]): void;
}

/** FedAvg and FedProx (Li et al. 2020) share the server side: w ← w + Δ. */
class WeightedAverage implements Strategy {
  constructor(
    readonly name: StrategyName,
    readonly proximalMu: number,
  ) {}

  step(global: Model, sums: Float32Array[], totalWeight: number): void {
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

/** The CRD's defaults, for a manifest that names a strategy without its settings block. */
const FED_PROX_MU = 0.01;
const FED_OPT: ServerOptimizerSettings = { serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 };

export function createStrategy(spec: FederatedJobSpec['strategy']): Strategy {
  switch (spec.name) {
    case 'FedAvg':
      return new WeightedAverage('FedAvg', 0);
    case 'FedProx':
      return new WeightedAverage('FedProx', spec.fedProx?.mu ?? FED_PROX_MU);
    case 'FedAdam':
    case 'FedYogi':
    case 'FedAdagrad':
      return new ServerOptimizer(spec.name as ServerOptimizerKind, { ...FED_OPT, ...spec.fedOpt });
  }
}
