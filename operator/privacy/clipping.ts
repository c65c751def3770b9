/**
 * Per-update L2 clipping (DP-FedAvg, McMahan, Ramage, Talwar and Zhang 2018): a site's update delta
 * Δ = w_site − w_global is scaled to norm at most C, so that no site can move the sum by more than C,
 * which is the sensitivity the Gaussian noise is calibrated to.
 */

/** ‖Δ‖₂ over every tensor of an update, accumulated in float64. */
export function l2Norm(tensors: readonly (Float32Array | Float64Array)[]): number {
  let squares = 0;
  for (const t of tensors) for (let i = 0; i < t.length; i++) squares += t[i]! * t[i]!;
  return Math.sqrt(squares);
}

/** The factor that brings an update of this norm within the clip norm: min(1, C/‖Δ‖). */
export function clipFactor(norm: number, clipNorm: number): number {
  return norm > clipNorm ? clipNorm / norm : 1;
}

/** Scales the tensors in place to norm at most C; returns the norm they had. */
export function clipInPlace(tensors: Float32Array[], clipNorm: number): number {
  const norm = l2Norm(tensors);
  const factor = clipFactor(norm, clipNorm);
  if (factor < 1) for (const t of tensors) for (let i = 0; i < t.length; i++) t[i]! *= factor;
  return norm;
}

/**
 * Adaptive clipping (Andrew, Thakkar, McMahan and Ramaswamy 2021, "Differentially private learning
 * with adaptive clipping"): the clip norm follows a quantile γ of the update norms. Each round, b̃ is
 * the noised fraction of updates that were not clipped, b̃ = (Σ 1[‖Δ_i‖ ≤ C] + N(0, σ_b²)) / m, and
 * C ← C·exp(−η·(b̃ − γ)) (geometric update). The count is noised too and so costs privacy: with a
 * total noise multiplier z, the updates get z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) (their Theorem 1), so
 * that the round as a whole is the Gaussian mechanism with multiplier z.
 */
export interface AdaptiveClipSettings {
  /** The target quantile γ of update norms, in (0, 1). */
  targetQuantile: number;
  /** η, the step of the geometric update. */
  learningRate: number;
  /** σ_b, the standard deviation of the noise on the count of unclipped updates. */
  countStddev: number;
}

/** z_Δ, the multiplier left for the updates once the count's noise σ_b took its share of z. */
export function updateNoiseMultiplier(total: number, countStddev: number): number {
  if (countStddev === 0) return total;
  const rest = total ** -2 - (2 * countStddev) ** -2;
  if (!(rest > 0)) {
    throw new RangeError(
      `the noise multiplier ${total} is too small for a count noise of ${countStddev}: it needs z < 2·σ_b = ${2 * countStddev}; ` +
        'raise privacy.clipping.adaptive.countStddev or the noise multiplier',
    );
  }
  return rest ** -0.5;
}

/** The clip norm of the next round, from this round's count of unclipped updates (noised by the caller). */
export function nextClipNorm(clipNorm: number, noisedUnclippedFraction: number, s: AdaptiveClipSettings): number {
  return clipNorm * Math.exp(-s.learningRate * (noisedUnclippedFraction - s.targetQuantile));
}
