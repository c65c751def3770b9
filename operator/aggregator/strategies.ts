import type { FederatedJobSpec } from '../api/federatedjob.js';
import { ServerOptimizer, type ServerOptimizerKind, type ServerOptimizerSettings } from './server-optimizer.js';
import type { Strategy } from './strategy.js';
import { WeightedAverage } from './weighted-average.js';

/** The CRD's defaults, for a manifest that names a strategy without its settings block. */
const FED_PROX_MU = 0.01;
const FED_OPT: ServerOptimizerSettings = { serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 };

/** The strategy a job names, built with its settings. */
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
