import { encodedFeatureNames, layerWidths, oneHotMask, type BuiltinTrainerSpec } from './builtin-spec.js';
import { Network } from './network.js';
import { standardizationFrom } from './standardization.js';

/** What model.json says about a built-in model: enough to apply it to a new record without Flotilla. */
export interface ModelDescription {
  model: BuiltinTrainerSpec['model'];
  hiddenUnits: number[];
  /** Tensor names and shapes in the safetensors file, named as PyTorch names them. */
  tensors: { name: string; shape: number[] }[];
  output: string;
  /** The model's inputs in order: a column's value, or an indicator (1 when the column equals `level`). */
  inputs: { name: string; column: number; level?: number }[];
  label: { column: number; positiveAbove: number };
  missingValues: string[];
  standardize:
    | { mode: 'Federated'; note: string; mean: number[]; std: number[] }
    | { mode: 'Local'; note: string }
    | { mode: 'None' };
}

/**
 * The description of a built-in model. `statisticsSum` is the sum over sites of the trainers'
 * statistics() (what the aggregator handed to useStatistics); it is needed for Federated
 * standardisation, whose global means and standard deviations every user of the model must apply.
 */
export function describeModel(spec: BuiltinTrainerSpec, statisticsSum: Float64Array | null): ModelDescription {
  const widths = layerWidths(spec);
  const network = new Network(widths);
  const { dataset } = spec;
  const names = encodedFeatureNames(dataset.features);
  const inputs = dataset.features
    .flatMap((f) => (f.oneHot ? f.oneHot.map((level) => ({ column: f.column, level })) : [{ column: f.column }]))
    .map((input, i) => ({ name: names[i]!, ...input }));
  return {
    model: spec.model,
    hiddenUnits: widths.slice(1, -1),
    tensors: network.toModel(new Float64Array(network.size)).map((t) => ({ name: t.name, shape: t.shape })),
    output: 'one logit: P(label = 1) = sigmoid(logit); positive when P > 0.5',
    inputs,
    label: { column: dataset.label.column, positiveAbove: dataset.label.positiveAbove },
    missingValues: dataset.missingValues,
    standardize: standardizeDescription(spec, statisticsSum),
  };
}

function standardizeDescription(spec: BuiltinTrainerSpec, statisticsSum: Float64Array | null): ModelDescription['standardize'] {
  switch (spec.dataset.standardize) {
    case 'None':
      return { mode: 'None' };
    case 'Local':
      return {
        mode: 'Local',
        note: 'each site z-scores the numeric inputs with the mean and standard deviation of its own training records; apply the model with the statistics of the records it scores. One-hot indicators are not standardised.',
      };
    case 'Federated': {
      if (!statisticsSum) throw new Error('Federated standardisation: the summed site statistics are needed to describe the model');
      const s = standardizationFrom(statisticsSum, oneHotMask(spec.dataset.features).map((indicator) => !indicator));
      return {
        mode: 'Federated',
        note: 'input = (value - mean) / std, with the global training mean and standard deviation (one-hot indicators have mean 0, std 1: they are not standardised)',
        mean: [...s.mean],
        std: [...s.std],
      };
    }
  }
}
