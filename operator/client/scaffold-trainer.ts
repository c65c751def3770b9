import { splitControlVariates, withControlVariates } from '../federation/control-variates.js';
import type { Model } from '../federation/model.js';
import type { Metrics, TrainParams, TrainResult, Trainer } from '../trainer/trainer.js';
import type { SiteControlVariate } from './site-control-variate.js';

/**
 * A site's side of SCAFFOLD (Karimireddy et al. 2020, Algorithm 1, option II) around a trainer that
 * declares control variates. From the global model x and the server's c (both received), and the
 * site's own c_i (kept at the site):
 *   y_i  = K local steps of  y ← y − η_l·(g(y) + c − c_i)
 *   c_i⁺ = c_i − c + (x − y_i) / (K·η_l)
 * and sends y_i with c + (c_i⁺ − c_i), so the aggregator folds Δc_i like the model's delta; c_i⁺
 * is kept once the update was accepted.
 */
export class ScaffoldTrainer implements Trainer {
  readonly controlVariates = true;

  constructor(
    /** The trainer itself, for plain local training (personalisation). */
    readonly inner: Trainer,
    private readonly kept: SiteControlVariate,
  ) {
    if (!inner.controlVariates) throw new Error('strategy SCAFFOLD needs a trainer that takes control variates (the built-in trainer)');
  }

  async initialize(seed: number): Promise<Model> {
    return withControlVariates(await this.inner.initialize(seed));
  }

  statistics(): Promise<Float64Array | null> {
    return this.inner.statistics();
  }

  useStatistics(sum: Float64Array): void {
    this.inner.useStatistics(sum);
  }

  evaluate(model: Model, round: number): Promise<Metrics> {
    return this.inner.evaluate(splitControlVariates(model).model, round);
  }

  async train(received: Model, params: TrainParams, round: number): Promise<TrainResult> {
    const { model: x, variates: c } = splitControlVariates(received);
    const ci = (await this.kept.before(round)) ?? x.map((t) => ({ ...t, data: new Float32Array(t.data.length) }));
    const correction = x.map((t, k) => ({ ...t, data: c[k]!.data.map((value, j) => value - ci[k]!.data[j]!) }));
    const trained = await this.inner.train(x, { ...params, correction }, round);
    const steps = trained.steps;
    if (!(steps !== undefined && steps >= 1)) throw new Error('the trainer did not say how many local steps it took, which SCAFFOLD needs');
    const scale = 1 / (steps * params.learningRate);
    const next = x.map((t, k) => {
      const y = trained.model[k]!.data;
      return { ...t, data: t.data.map((xj, j) => ci[k]!.data[j]! - c[k]!.data[j]! + (xj - y[j]!) * scale) };
    });
    const sentVariates = c.map((t, k) => ({ ...t, data: t.data.map((cj, j) => cj + (next[k]!.data[j]! - ci[k]!.data[j]!)) }));
    return {
      ...trained,
      model: withControlVariates(trained.model, sentVariates),
      commit: async () => {
        await trained.commit?.();
        await this.kept.save(round, next);
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
