import type { FederatedJobSpec } from '../api/generated/federatedjob.js';

/**
 * spec.trainer.builtin of a FederatedJob, with the CRD's defaults applied (the API server applies
 * them, and parseFederatedJob does the same for flotilla simulate).
 */
export type BuiltinTrainerSpec = NonNullable<FederatedJobSpec['trainer']['builtin']>;
export type DatasetSpec = BuiltinTrainerSpec['dataset'];
export type FeatureSpec = DatasetSpec['features'][number];

/** An MLP without hiddenUnits gets one hidden layer of this many units. */
const DEFAULT_HIDDEN_UNITS = [16];

/** Widths of the network's layers, inputs first, one logit last. */
export function layerWidths(spec: BuiltinTrainerSpec): number[] {
  const inputs = encodedFeatureNames(spec.dataset.features).length;
  if (spec.model === 'LogisticRegression') return [inputs, 1];
  const hidden = spec.hiddenUnits && spec.hiddenUnits.length > 0 ? spec.hiddenUnits : DEFAULT_HIDDEN_UNITS;
  return [inputs, ...hidden, 1];
}

/** Names of the model's inputs in order: a numeric feature's name, or name=level per one-hot level. */
export function encodedFeatureNames(features: readonly FeatureSpec[]): string[] {
  return features.flatMap((f) => (f.oneHot ? f.oneHot.map((level) => `${f.name}=${level}`) : [f.name]));
}

/** Which encoded inputs are one-hot indicators (these are not standardised: see standardization.ts). */
export function oneHotMask(features: readonly FeatureSpec[]): boolean[] {
  return features.flatMap((f) => (f.oneHot ? f.oneHot.map(() => true) : [false]));
}
