import type { Model } from '../federation/model.js';

/** Local training settings of one round, as the aggregator hands them out. */
export interface TrainParams {
  /** Passes over the local training data; 0 when localSteps is used. */
  localEpochs: number;
  /** Mini-batch steps; 0 when localEpochs is used. */
  localSteps: number;
  batchSize: number;
  learningRate: number;
  /** FedProx proximal weight: adds (mu/2)·||w - w_global||² to the local objective; 0 for plain SGD. */
  proximalMu: number;
  /** Seeds this round's shuffling at this site (derived from the job seed, round and site). */
  seed: number;
  /** SCAFFOLD: c − c_i per tensor, added to every local gradient (only for a trainer that declares controlVariates). */
  correction?: Model;
}

export interface Metrics {
  numSamples: number;
  loss: number;
  accuracy: number;
  extra?: Record<string, number>;
}

export interface TrainResult {
  model: Model;
  /** Training figures; numSamples is the update's weight in the average. */
  metrics: Metrics;
  /** The local steps taken (K), for SCAFFOLD's control-variate update. */
  steps?: number;
  /** Called once the update was accepted: what the site keeps of this round becomes its own (SCAFFOLD's c_i). */
  commit?: () => Promise<void>;
}

/**
 * What runs at a site. Implementations: the built-in tabular trainer and the bring-your-own
 * command trainer. Data stays inside the trainer: only models, counts and aggregate statistics leave.
 */
export interface Trainer {
  /** Whether train() takes params.correction and reports its steps (SCAFFOLD). */
  readonly controlVariates?: boolean;
  /** The initial global model, from the job's seed alone (no data), so any site makes the same one. */
  initialize(seed: number): Promise<Model>;
  /**
   * Federated statistics of the local training data (counts and sums, never records), or null
   * when this trainer needs none. The aggregator sums them over the sites.
   */
  statistics(): Promise<Float64Array | null>;
  /** The sum over all sites of what statistics() returned, before the first round. */
  useStatistics(sum: Float64Array): void;
  /** The model on the local held-out test set; round is the task's (a command trainer passes it on). */
  evaluate(model: Model, round: number): Promise<Metrics>;
  /** Local training from the global model in round `round` (1-based). */
  train(global: Model, params: TrainParams, round: number): Promise<TrainResult>;
  close(): Promise<void>;
}
