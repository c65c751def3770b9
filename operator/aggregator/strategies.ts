import type { FederatedJobSpec } from '../api/federatedjob.js';
import { ServerOptimizer, type ServerOptimizerKind, type ServerOptimizerSettings } from './server-optimizer.js';
import { Scaffold } from './scaffold.js';
import type { Strategy } from './strategy.js';
import { WeightedAverage } from './weighted-average.js';

/** The CRD's defaults, for a manifest that names a strategy without its settings block. */
const FED_PROX_MU = 0.01;
const FED_OPT: ServerOptimizerSettings = { serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 };
const SCAFFOLD_SERVER_LEARNING_RATE = 1;

/** The strategy a job names, built with its settings; `sites` is how many sites the job has. */
export function createStrategy(spec: FederatedJobSpec['strategy'], sites: number): Strategy {
  switch (spec.name) {
    case 'FedAvg':
      return new WeightedAverage('FedAvg', 0);
    case 'FedProx':
      return new WeightedAverage('FedProx', spec.fedProx?.mu ?? FED_PROX_MU);
    case 'FedAdam':
    case 'FedYogi':
    case 'FedAdagrad':
      return new ServerOptimizer(spec.name as ServerOptimizerKind, { ...FED_OPT, ...spec.fedOpt });
    case 'SCAFFOLD':
      return new Scaffold(spec.scaffold?.serverLearningRate ?? SCAFFOLD_SERVER_LEARNING_RATE, sites);
  }
}
