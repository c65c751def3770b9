import type { Model } from '../federation/model.js';
import type { Metrics, TrainParams, TrainResult, Trainer } from './trainer.js';
import { layerWidths, oneHotMask, type BuiltinTrainerSpec, type DatasetSpec } from './builtin-spec.js';
import { loadTabularDataset, type Split, type TabularDataset } from './tabular-dataset.js';
import { standardizationFrom, standardize, statisticsOf } from './standardization.js';
import { Network } from './network.js';
import { localStepCount, score, trainLocally } from './local-training.js';

export interface BuiltinTrainerOptions {
  spec: BuiltinTrainerSpec;
  /** The site's CSV file. */
  dataPath: string;
  /** The site's name: with jobSeed it seeds the site's train/test split. */
  site: string;
  jobSeed: number;
}

/**
 * The built-in trainer for tabular data: logistic regression or an MLP, trained by mini-batch SGD on
 * one site's CSV. Records stay in this object; what leaves is models, counts, losses and (for
 * Federated standardisation) per-feature counts and sums.
 */
export class BuiltinTrainer implements Trainer {
  readonly controlVariates = true;
  private readonly network: Network;
  private readonly dataset: DatasetSpec;
  /** The splits as the model sees them: standardised once the statistics are known. */
  private ready: { train: Split; test: Split } | null = null;

  private constructor(
    spec: BuiltinTrainerSpec,
    private readonly data: TabularDataset,
  ) {
    this.network = new Network(layerWidths(spec));
    this.dataset = spec.dataset;
    if (this.dataset.standardize === 'None') this.ready = { train: data.train, test: data.test };
    if (this.dataset.standardize === 'Local') this.useStandardization(statisticsOf(data.train, data.features));
  }

  /** Reads and splits the site's data. */
  static async open(options: BuiltinTrainerOptions): Promise<BuiltinTrainer> {
    const data = await loadTabularDataset(options.dataPath, options.spec.dataset, options.jobSeed, options.site);
    return new BuiltinTrainer(options.spec, data);
  }

  /** Sizes of the split, for logs and tests. */
  get splitSizes(): { train: number; test: number; dropped: number } {
    return { train: this.data.train.rows, test: this.data.test.rows, dropped: this.data.recordsDropped };
  }

  async initialize(seed: number): Promise<Model> {
    return this.network.toModel(this.network.initialParameters(seed));
  }

  async statistics(): Promise<Float64Array | null> {
    return this.dataset.standardize === 'Federated' ? statisticsOf(this.data.train, this.data.features) : null;
  }

  /** Takes the global statistics (Federated standardisation); the other modes need none and ignore it. */
  useStatistics(sum: Float64Array): void {
    if (this.dataset.standardize === 'Federated') this.useStandardization(sum);
  }

  async evaluate(model: Model, _round: number): Promise<Metrics> {
    const { test } = this.splits();
    const { loss, accuracy } = score(this.network, this.network.fromModel(model), test);
    return { numSamples: test.rows, loss, accuracy };
  }

  /** Trains from the global model; the metrics are the trained model's on the local training split. */
  async train(global: Model, params: TrainParams, _round: number): Promise<TrainResult> {
    const { train } = this.splits();
    const correction = params.correction && this.network.fromModel(params.correction);
    const trained = trainLocally(this.network, this.network.fromModel(global), train, params, correction);
    const { loss, accuracy } = score(this.network, trained, train);
    return { model: this.network.toModel(trained), metrics: { numSamples: train.rows, loss, accuracy }, steps: localStepCount(train.rows, params) };
  }

  async close(): Promise<void> {}

  private useStandardization(stats: Float64Array): void {
    const s = standardizationFrom(stats, oneHotMask(this.dataset.features).map((indicator) => !indicator));
    this.ready = { train: standardize(this.data.train, s), test: standardize(this.data.test, s) };
  }

  private splits(): { train: Split; test: Split } {
    if (!this.ready) throw new Error('Federated standardisation: the global statistics have not been received yet (useStatistics)');
    return this.ready;
  }
}
