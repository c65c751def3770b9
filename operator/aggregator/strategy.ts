import type { Model, Tensor } from '../federation/model.js';
import type { FederatedJobSpec } from '../api/federatedjob.js';

export type StrategyName = FederatedJobSpec['strategy']['name'];

/**
 * How a round's updates become the next global model. Every strategy starts from the weighted mean
 * delta Δ = Σ n_i·(w_i − w) / Σ n_i, which the running sum yields without holding any update.
 */
export interface Strategy {
  readonly name: StrategyName;
  /** The proximal weight the sites train with (FedProx); 0 otherwise. */
  readonly proximalMu: number;
  /** Moves the global model in place, given the round's Σ n_i·Δ_i (overwritten), Σ n_i and how many updates made them. */
  step(global: Model, weightedDeltaSums: Float64Array[], totalWeight: number, updates: number): void;
  /** The optimiser's state as tensors, for the checkpoint (empty for FedAvg and FedProx). */
  state(): Tensor[];
  restore(tensors: readonly Tensor[]): void;
}
