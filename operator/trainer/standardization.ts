import type { Split } from './tabular-dataset.js';

/** z = (x - mean) / std, per encoded feature. */
export interface Standardization {
  mean: Float64Array;
  std: Float64Array;
}

/** Added to every standard deviation, as the FLamby benchmark does. */
const EPSILON = 1e-9;
/**
 * Below this (relative to the mean: sums of squares lose digits) a feature counts as constant in the training records and is left unscaled (std 1, as
 * scikit-learn's StandardScaler does): dividing by 1e-9 alone turns a test record's first non-zero
 * value into ±1e9 (Switzerland's 30 training records have a constant cholesterol of 0 and often a
 * constant fbs), which leaves accuracy but sends the test loss to millions.
 */
const CONSTANT_BELOW = 1e-6;

/**
 * Federated statistics of a training split: [count, Σx_0 … Σx_{F-1}, Σx_0² … Σx_{F-1}²]. Only
 * these aggregates leave the site, never a record; summed over sites they give the global mean
 * and standard deviation.
 */
export function statisticsOf(split: Split, features: number): Float64Array {
  const stats = new Float64Array(1 + 2 * features);
  stats[0] = split.rows;
  for (let r = 0; r < split.rows; r++) {
    for (let j = 0; j < features; j++) {
      const v = split.x[r * features + j]!;
      stats[1 + j] = stats[1 + j]! + v;
      stats[1 + features + j] = stats[1 + features + j]! + v * v;
    }
  }
  return stats;
}

/** The length statisticsOf returns for this many features, to check a sum before using it. */
export function statisticsLength(features: number): number {
  return 1 + 2 * features;
}

/**
 * Mean and (population) standard deviation from summed statistics. `standardized[j]` false leaves
 * feature j as it is (mean 0, std 1).
 */
export function standardizationFrom(stats: Float64Array, standardized: readonly boolean[]): Standardization {
  const features = standardized.length;
  if (stats.length !== statisticsLength(features)) {
    throw new Error(`statistics have ${stats.length} numbers; ${statisticsLength(features)} expected for ${features} features`);
  }
  const count = stats[0]!;
  if (!(count > 0)) throw new Error(`statistics count no record (count ${count})`);
  const mean = new Float64Array(features);
  const std = new Float64Array(features).fill(1);
  for (let j = 0; j < features; j++) {
    if (!standardized[j]) continue;
    const m = stats[1 + j]! / count;
    mean[j] = m;
    const sd = Math.sqrt(Math.max(stats[1 + features + j]! / count - m * m, 0));
    std[j] = sd < CONSTANT_BELOW * Math.max(1, Math.abs(m)) ? 1 : sd + EPSILON;
  }
  return { mean, std };
}

/** A standardised copy of a split. */
export function standardize(split: Split, s: Standardization): Split {
  const features = s.mean.length;
  const x = new Float64Array(split.x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % features;
    x[i] = (split.x[i]! - s.mean[j]!) / s.std[j]!;
  }
  return { x, y: split.y, rows: split.rows };
}
