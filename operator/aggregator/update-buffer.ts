import { cloneModel, type Model } from '../federation/model.js';
import { weightedFigures } from './round-figures.js';
import type { AsynchronousSpec, BufferedUpdate, RoundRecord, SiteRound } from './result.js';
import { RunningSum } from './running-sum.js';
import type { Strategy } from './strategy.js';

export type { AsynchronousSpec };

/** The exponent a of the polynomial weight when the spec gives none (the paper's choice). */
export const DEFAULT_STALENESS_EXPONENT = 0.5;

/** s(τ): how much an update τ versions behind counts (FedBuff, Nguyen et al. 2022, Algorithm 1). */
export function stalenessWeight(spec: AsynchronousSpec, staleness: number): number {
  return spec.staleness === 'Constant' ? 1 : 1 / (1 + staleness) ** (spec.stalenessExponent ?? DEFAULT_STALENESS_EXPONENT);
}

/** One buffered update, as result.json and /status show it. */
export type { BufferedUpdate };

/** The updates of one buffer and their running sum. */
interface Fill {
  sum: RunningSum;
  updates: BufferedUpdate[];
}

/** What the checkpoint keeps of one buffer. */
export interface FillState {
  updates: BufferedUpdate[];
  totalWeight: number;
  /** The running sum as it stands (fixed-point integers, per tensor). */
  sums: Float64Array[];
}

/** What the checkpoint keeps of the buffer: enough for a restarted aggregator to fold on where it was. */
export interface BufferState extends FillState {
  /** The version the buffer's mean is added to: the global model's. */
  version: number;
  /** Updates accepted while the buffer above, full, waits to be applied: the next version's. */
  next?: FillState;
  /** The older versions updates may still be trained on (and the current one), by version. */
  versions: { version: number; model: Model }[];
  /** The last version each site's update was for (spec.rounds' counting): a replay is refused. */
  lastRound: Record<string, number>;
  /** The SHA-256 of each site's last accepted update: sent again after a lost answer, it is answered as taken. */
  lastDigest?: Record<string, string>;
  /** When the version the buffer fills began (ms since the epoch). */
  startedAt: number;
}

/**
 * The FedBuff buffer: updates trained on any of the last maxStaleness versions are folded, as they are
 * accepted, into one running sum of n_i·s(τ_i)·(w_i − w_{v_i}), each delta taken against the version
 * v_i its site was given, and applied to the model once bufferSize are in. Once full it is sealed:
 * updates accepted while the version is being made go to the next buffer, with their staleness
 * against the version it will be applied to, so a version is made of exactly bufferSize updates
 * (fewer at the deadline; more only if a whole buffer's worth arrives while one version is made). Kept in memory: the current model and each older version an update
 * may still be trained on (maxStaleness copies), and the sums (8 bytes per parameter each; two
 * while a version is being made), whatever the number of sites.
 */
export class UpdateBuffer {
  private readonly versions = new Map<number, Model>();
  private open: Fill;
  /** The full buffer being made into the next version, if one is. */
  private sealed: Fill | null = null;
  private version: number;
  private startedAt: number;

  constructor(
    private readonly spec: AsynchronousSpec,
    private readonly global: Model,
    /**
     * The job's sites. A buffer holds at most two updates of a site (one accepted while the version
     * before was made, one on that version), so its sums leave room for twice as many.
     */
    private readonly siteCount: number,
    restored: BufferState | null,
    now: number,
  ) {
    if (restored) {
      this.version = restored.version;
      for (const { version, model } of restored.versions) this.versions.set(version, model);
      this.startedAt = restored.startedAt;
      this.open = this.restore(restored);
      if (restored.next) {
        this.sealed = this.open;
        this.open = this.restore(restored.next);
      }
    } else {
      this.version = 0;
      this.versions.set(0, cloneModel(global));
      this.startedAt = now;
      this.open = this.fill();
    }
  }

  /** The version the buffer's mean will be added to; the next one's once the buffer is sealed. */
  get current(): number {
    return this.version + (this.sealed ? 1 : 0);
  }

  /** How many updates the buffer holds (the sealed one, while there is one). */
  get size(): number {
    return (this.sealed ?? this.open).updates.length;
  }

  /** The sites of the updates buffered. */
  sites(): string[] {
    return (this.sealed ?? this.open).updates.map((u) => u.site);
  }

  /** The buffer is full (or its deadline passed): what is accepted from now on is for the next version. */
  seal(): void {
    if (this.sealed) return;
    this.sealed = this.open;
    this.open = this.fill();
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
    const { sum } = this.open;
    arrays.forEach((values, k) => {
      sum.fold(k, 0, values, numSamples, base);
      sum.unfold(k, 0, values, numSamples, base);
    });
  }

  /** Folds an accepted update in, weighted by its records and its staleness now. Synchronous: nothing runs between accept and fold. */
  add(entry: SiteRound, trainedOn: number, arrays: readonly Float32Array[]): BufferedUpdate {
    const base = this.versions.get(trainedOn);
    if (!base) throw new Error(`version ${trainedOn} is no longer kept (the round state admits only updates within maxStaleness)`);
    const staleness = this.current - trainedOn;
    const weight = stalenessWeight(this.spec, staleness);
    const { sum, updates } = this.open;
    arrays.forEach((values, k) => sum.fold(k, 0, values, entry.numSamples * weight, base));
    // Divided by Σ n_i, not Σ n_i·s_i: stale updates move the model less, as in the paper's mean over K.
    sum.totalWeight += entry.numSamples;
    const update: BufferedUpdate = { ...entry, trainedOn, staleness, stalenessWeight: weight };
    updates.push(update);
    // Sealed in the same tick as it fills: the next update, however soon, is the next version's.
    if (!this.sealed && updates.length >= this.spec.bufferSize) this.seal();
    return update;
  }

  /**
   * Applies the buffer to the global model (in place) through the strategy: its step sees
   * serverLearningRate times the staleness-weighted mean delta. The next version starts with an empty
   * buffer; versions older than maxStaleness behind the new one are forgotten. Returns the version's record.
   */
  apply(global: Model, strategy: Strategy, round: number, now: number): RoundRecord {
    this.seal();
    const { sum, updates: buffered } = this.sealed!;
    const updates = [...buffered].sort((a, b) => (a.site < b.site ? -1 : a.site > b.site ? 1 : a.trainedOn - b.trainedOn));
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
    strategy.step(global, sum.weightedDeltaSums(), sum.totalWeight / this.spec.serverLearningRate, updates.length);
    this.sealed = null;
    this.version++;
    this.versions.set(this.version, cloneModel(global));
    for (const v of this.versions.keys()) if (v < this.version - this.spec.maxStaleness) this.versions.delete(v);
    this.startedAt = now;
    return record;
  }

  /** A copy of the buffer for the checkpoint: what it holds can change while the checkpoint is written. */
  state(lastRound: Record<string, number>, lastDigest: Record<string, string> = {}): BufferState {
    const fill = (f: Fill): FillState => ({ updates: [...f.updates], totalWeight: f.sum.totalWeight, sums: f.sum.sums.map((s) => Float64Array.from(s)) });
    return {
      version: this.version,
      ...fill(this.sealed ?? this.open),
      ...(this.sealed ? { next: fill(this.open) } : {}),
      versions: [...this.versions].map(([version, model]) => ({ version, model })),
      lastRound: { ...lastRound },
      lastDigest: { ...lastDigest },
      startedAt: this.startedAt,
    };
  }

  private fill(): Fill {
    return { sum: new RunningSum(this.global, 2 * this.siteCount), updates: [] };
  }

  private restore(state: FillState): Fill {
    const fill = this.fill();
    fill.sum.totalWeight = state.totalWeight;
    state.sums.forEach((s, k) => fill.sum.sums[k]!.set(s));
    fill.updates = state.updates;
    return fill;
  }
}
