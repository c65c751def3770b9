import { cloneModel, type Model } from '../federation/model.js';
import type { FederatedJobSpec } from '../api/federatedjob.js';
import { weightedFigures } from './round-figures.js';
import type { RoundRecord, SiteRound } from './result.js';
import { RunningSum } from './running-sum.js';
import type { Strategy } from './strategy.js';

/** spec.asynchronous, defaults applied. */
export type AsynchronousSpec = NonNullable<FederatedJobSpec['asynchronous']>;

/** The exponent a of the polynomial weight when the spec gives none (the paper's choice). */
export const DEFAULT_STALENESS_EXPONENT = 0.5;

/** s(τ): how much an update τ versions behind counts (FedBuff, Nguyen et al. 2022, Algorithm 1). */
export function stalenessWeight(spec: AsynchronousSpec, staleness: number): number {
  return spec.staleness === 'Constant' ? 1 : 1 / (1 + staleness) ** (spec.stalenessExponent ?? DEFAULT_STALENESS_EXPONENT);
}

/** One buffered update, as result.json and /status show it. */
export interface BufferedUpdate extends SiteRound {
  /** The version of the model the site trained on. */
  trainedOn: number;
  /** τ: versions made between the one it trained on and the one its buffer moves. */
  staleness: number;
  /** s(τ): its weight is numSamples · stalenessWeight. */
  stalenessWeight: number;
}

/** What the checkpoint keeps of the buffer: enough for a restarted aggregator to fold on where it was. */
export interface BufferState {
  /** The version the buffer's mean is added to: the global model's. */
  version: number;
  updates: BufferedUpdate[];
  totalWeight: number;
  /** The running sum as it stands (fixed-point integers, per tensor). */
  sums: Float64Array[];
  /** The older versions updates may still be trained on (and the current one), by version. */
  versions: { version: number; model: Model }[];
  /** The last version each site's update was for (spec.rounds' counting): a replay is refused. */
  lastRound: Record<string, number>;
  /** When the version the buffer fills began (ms since the epoch). */
  startedAt: number;
}

/**
 * The FedBuff buffer: updates trained on any of the last maxStaleness versions are folded, as they are
 * accepted, into one running sum of n_i·s(τ_i)·(w_i − w_{v_i}), each delta taken against the version
 * v_i its site was given, and applied to the model once bufferSize are in. Kept in memory: the
 * current model and each older version an update may still be trained on (maxStaleness copies),
 * and the sum (8 bytes per parameter), whatever the number of sites.
 */
export class UpdateBuffer {
  private readonly versions = new Map<number, Model>();
  private sum: RunningSum;
  private updates: BufferedUpdate[] = [];
  private version: number;
  private startedAt: number;

  constructor(
    private readonly spec: AsynchronousSpec,
    global: Model,
    /** The most updates one buffer may hold: a site's update can land in a buffer it already has one in while that buffer is applied. */
    private readonly siteCount: number,
    restored: BufferState | null,
    now: number,
  ) {
    this.sum = new RunningSum(global, 2 * siteCount);
    if (restored) {
      this.version = restored.version;
      this.updates = restored.updates;
      this.sum.totalWeight = restored.totalWeight;
      restored.sums.forEach((s, k) => this.sum.sums[k]!.set(s));
      for (const { version, model } of restored.versions) this.versions.set(version, model);
      this.startedAt = restored.startedAt;
    } else {
      this.version = 0;
      this.versions.set(0, cloneModel(global));
      this.startedAt = now;
    }
  }

  /** The version the buffer's mean will be added to. */
  get current(): number {
    return this.version;
  }

  get size(): number {
    return this.updates.length;
  }

  /** The sites of the updates buffered. */
  sites(): string[] {
    return this.updates.map((u) => u.site);
  }

  /** The model of a version an update may still be trained on; undefined once it is older than maxStaleness. */
  base(version: number): Model | undefined {
    return this.versions.get(version);
  }

  /**
   * Whether an update of `numSamples` records trained on `version` fits the sum exactly: RunningSum.fold
   * refuses (throwing OutOfRange) before changing anything, and unfold takes back exactly what it added.
   * Its weight at commit is at most numSamples, so what fits now fits then.
   */
  check(version: number, arrays: readonly Float32Array[], numSamples: number): void {
    const base = this.versions.get(version)!;
    arrays.forEach((values, k) => {
      this.sum.fold(k, 0, values, numSamples, base);
      this.sum.unfold(k, 0, values, numSamples, base);
    });
  }

  /** Folds an accepted update in, weighted by its records and its staleness now. Synchronous: nothing runs between accept and fold. */
  add(entry: SiteRound, trainedOn: number, arrays: readonly Float32Array[]): BufferedUpdate {
    const base = this.versions.get(trainedOn);
    if (!base) throw new Error(`version ${trainedOn} is no longer kept (the round state admits only updates within maxStaleness)`);
    const staleness = this.version - trainedOn;
    const weight = stalenessWeight(this.spec, staleness);
    arrays.forEach((values, k) => this.sum.fold(k, 0, values, entry.numSamples * weight, base));
    // Divided by Σ n_i, not Σ n_i·s_i: stale updates move the model less, as in the paper's mean over K.
    this.sum.totalWeight += entry.numSamples;
    const update: BufferedUpdate = { ...entry, trainedOn, staleness, stalenessWeight: weight };
    this.updates.push(update);
    return update;
  }

  /**
   * Applies the buffer to the global model (in place) through the strategy: its step sees
   * serverLearningRate times the staleness-weighted mean delta. The next version starts with an empty
   * buffer; versions older than maxStaleness behind the new one are forgotten. Returns the version's record.
   */
  apply(global: Model, strategy: Strategy, round: number, now: number): RoundRecord {
    const updates = [...this.updates].sort((a, b) => (a.site < b.site ? -1 : a.site > b.site ? 1 : a.trainedOn - b.trainedOn));
    const record: RoundRecord = {
      round,
      attempt: 0,
      participants: updates.map((u) => u.site),
      startedAt: new Date(this.startedAt).toISOString(),
      durationSeconds: (now - this.startedAt) / 1000,
      train: weightedFigures(updates.map((u) => u.train)),
      eval: weightedFigures(updates.map((u) => u.eval)),
      sites: updates,
      asynchronous: { version: this.version + 1, updates: updates.length },
    };
    strategy.step(global, this.sum.weightedDeltaSums(), this.sum.totalWeight / this.spec.serverLearningRate, updates.length);
    this.sum = new RunningSum(global, 2 * this.siteCount);
    this.updates = [];
    this.version++;
    this.versions.set(this.version, cloneModel(global));
    for (const v of this.versions.keys()) if (v < this.version - this.spec.maxStaleness) this.versions.delete(v);
    this.startedAt = now;
    return record;
  }

  /** A copy of the buffer for the checkpoint: what it holds can change while the checkpoint is written. */
  state(lastRound: Record<string, number>): BufferState {
    return {
      version: this.version,
      updates: [...this.updates],
      totalWeight: this.sum.totalWeight,
      sums: this.sum.sums.map((s) => Float64Array.from(s)),
      versions: [...this.versions].map(([version, model]) => ({ version, model })),
      lastRound: { ...lastRound },
      startedAt: this.startedAt,
    };
  }
}
