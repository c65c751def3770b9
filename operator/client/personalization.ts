import { withoutControlVariates } from '../federation/control-variates.js';
import { FINE_TUNED_ACCURACY, FINE_TUNED_LOSS } from '../federation/metric-keys.js';
import type { Model } from '../federation/model.js';
import type { Metrics, Trainer } from '../trainer/trainer.js';
import { ScaffoldTrainer } from './scaffold-trainer.js';

/** spec.personalization as a site applies it, the trainer's settings filled in. */
export interface Personalization {
  localEpochs: number;
  learningRate: number;
  batchSize: number;
}

/**
 * The final global model fine-tuned on the site's training data, scored on its test split. Plain
 * local SGD on the site's own objective: no proximal term, no SCAFFOLD correction (the point is to
 * fit this site). The fine-tuned model itself stays here.
 */
export async function fineTuned(trainer: Trainer, global: Model, settings: Personalization, seed: number, round: number): Promise<Metrics> {
  const local = trainer instanceof ScaffoldTrainer ? trainer.inner : trainer;
  const model = withoutControlVariates(global);
  const { localEpochs, learningRate, batchSize } = settings;
  const trained = await local.train(model, { localEpochs, localSteps: 0, batchSize, learningRate, proximalMu: 0, seed }, round);
  return local.evaluate(trained.model, round);
}

/** The evaluation's metrics with the fine-tuned figures beside them. */
export function withFineTuned(evaluation: Metrics, tuned: Metrics): Metrics {
  return { ...evaluation, extra: { ...evaluation.extra, [FINE_TUNED_LOSS]: tuned.loss, [FINE_TUNED_ACCURACY]: tuned.accuracy } };
}
