import type { Model, Tensor } from './model.js';

/**
 * SCAFFOLD's control variates on the wire (docs/non-iid.md). The server's c travels after the
 * model's own tensors, one tensor per model tensor, named with this prefix; a site's update carries
 * c + Δc_i there, so the aggregator folds Δc_i exactly as it folds the model's delta. A site's own
 * c_i never travels.
 */
export const CONTROL_VARIATE_PREFIX = 'scaffold.c/';

export function isControlVariate(tensor: Pick<Tensor, 'name'>): boolean {
  return tensor.name.startsWith(CONTROL_VARIATE_PREFIX);
}

/** The model followed by its control variates: `variates`, or zeros (c⁰ = 0, as in the paper). */
export function withControlVariates(model: Model, variates?: Model): Model {
  const c = variates ?? model.map((t) => ({ ...t, data: new Float32Array(t.data.length) }));
  return [...model, ...c.map((t, k) => ({ name: CONTROL_VARIATE_PREFIX + model[k]!.name, shape: [...model[k]!.shape], data: t.data }))];
}

/** A received model split into the model itself and its control variates (named as the model's tensors). */
export function splitControlVariates(received: Model): { model: Model; variates: Model } {
  const model = received.filter((t) => !isControlVariate(t));
  const variates = received.filter(isControlVariate).map((t) => ({ ...t, name: t.name.slice(CONTROL_VARIATE_PREFIX.length) }));
  if (variates.length !== model.length || variates.some((t, k) => t.name !== model[k]!.name || t.data.length !== model[k]!.data.length)) {
    throw new Error(`the model's control variates do not match its tensors: a SCAFFOLD model carries one ${CONTROL_VARIATE_PREFIX}<name> per tensor, in order`);
  }
  return { model, variates };
}

/** The model without any control variates: what a job's result keeps. */
export function withoutControlVariates(model: Model): Model {
  return model.filter((t) => !isControlVariate(t));
}
