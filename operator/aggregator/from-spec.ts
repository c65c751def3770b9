import { withControlVariates } from '../federation/control-variates.js';
import type { Model } from '../federation/model.js';
import { encodedFeatureNames, layerWidths } from '../trainer/builtin-spec.js';
import { Network } from '../trainer/network.js';
import { statisticsLength } from '../trainer/standardization.js';
import type { JobSettings } from './job-settings.js';

/**
 * What the job spec alone says sites will send, so that no site gets to decide it for the others:
 * the length of the federated statistics vector, and a built-in trainer's initial model.
 */

/** Values in each site's statistics vector: [count, Σx…, Σx²…] over the encoded features. */
export function expectedStatisticsLength(settings: Pick<JobSettings, 'builtin'>): number | null {
  const dataset = settings.builtin?.dataset;
  return dataset?.standardize === 'Federated' ? statisticsLength(encodedFeatureNames(dataset.features).length) : null;
}

/**
 * The initial model of a built-in trainer's job: the network the spec describes, initialised from
 * the job's seed alone, exactly as every site's trainer makes it (BuiltinTrainer.initialize), with
 * SCAFFOLD's control variates after it. Null
 * for a bring-your-own trainer, whose model only the sites know.
 */
export function builtinInitialModel(settings: Pick<JobSettings, 'builtin' | 'seed' | 'strategy'>): Model | null {
  if (!settings.builtin) return null;
  const network = new Network(layerWidths(settings.builtin));
  const model = network.toModel(network.initialParameters(settings.seed));
  // SCAFFOLD's server control variate c starts at zero and travels with the model.
  return settings.strategy.name === 'SCAFFOLD' ? withControlVariates(model) : model;
}
