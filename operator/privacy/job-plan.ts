import type { FederatedJobSpec } from '../api/federatedjob.js';
import { noiseMultiplierFor } from './accountant.js';
import { updateNoiseMultiplier, type AdaptiveClipSettings } from './clipping.js';

export type PrivacySpec = NonNullable<FederatedJobSpec['privacy']>;

/**
 * What a job's spec.privacy means in numbers, worked out the same way by the aggregator and by
 * every site (both read the same manifest, and noiseMultiplierFor is deterministic).
 */
export interface PrivacyPlan {
  mode: 'Central' | 'Local' | 'Distributed';
  delta: number;
  /** targetEpsilon: no round may take ε above it. */
  budget: number | undefined;
  /** z: the noise multiplier of the round as a whole (given, or derived from the budget). */
  noiseMultiplier: number;
  /** z_Δ: what the updates get once adaptive clipping's noised count took its share (z otherwise). */
  updateNoiseMultiplier: number;
  /**
   * What each site's own noise is, as a multiple of the clip norm: z for Local, z/sqrt(t) for
   * Distributed (t the secure-aggregation threshold: a revealed sum has at least t updates, so at
   * least z·C of noise); 0 for Central, where the aggregator adds it.
   */
  siteNoiseMultiplier: number;
  /** The clip norm of the first round. */
  clipNorm: number;
  adaptive: AdaptiveClipSettings | undefined;
  /** Poisson: each site with probability rate, from node:crypto. Fixed: the job's seeded selection. */
  sampling: { mode: 'Poisson'; rate: number } | { mode: 'Fixed' };
  /** Expected sites per round: the fixed denominator of the noised mean (DP-FedAvg). */
  expectedSites: number;
  /** What one round costs, for the accountant: its sampling rate and noise multiplier. */
  perRound: { q: number; sigma: number };
}

/**
 * The accountant's view of one round. Central: add-or-remove-one site, sensitivity C, so σ = z, and
 * q the Poisson rate (1 with Fixed sampling, which claims no amplification). Distributed: the same
 * against whoever sees the securely aggregated sum, whose noise is at least z·C (q = 1: Fixed only). Local: each site's own
 * release against the aggregator, who sees who took part (q = 1), with its data replaced by any
 * other (sensitivity 2C, so σ = z/2).
 */
function perRound(mode: PrivacyPlan['mode'], q: number, z: number): PrivacyPlan['perRound'] {
  return mode === 'Central' ? { q, sigma: z } : mode === 'Distributed' ? { q: 1, sigma: z } : { q: 1, sigma: z / 2 };
}

/** `secureThreshold`: spec.secureAggregation.threshold, which Distributed needs. */
export function privacyPlan(p: PrivacySpec, sites: number, sitesPerRound: number | undefined, rounds: number, secureThreshold?: number): PrivacyPlan {
  const sampling: PrivacyPlan['sampling'] = p.sampling.mode === 'Poisson' ? { mode: 'Poisson', rate: p.sampling.rate! } : { mode: 'Fixed' };
  const q = sampling.mode === 'Poisson' ? sampling.rate : 1;
  const expectedSites = sampling.mode === 'Poisson' ? sampling.rate * sites : Math.min(sitesPerRound ?? sites, sites);
  // Derived from the budget: the z for which the job's every round fits (Local accounts for z/2, so twice that).
  const derived = () => {
    const sigma = noiseMultiplierFor(q === 1 || p.mode === 'Local' ? 1 : q, rounds, p.delta, p.targetEpsilon!);
    return p.mode === 'Local' ? 2 * sigma : sigma;
  };
  const z = p.noiseMultiplier ?? derived();
  const adaptive = p.clipping.adaptive;
  if (p.mode === 'Distributed' && !secureThreshold) throw new Error('privacy mode Distributed needs secureAggregation (its threshold sets each site\'s share of the noise)');
  const siteNoiseMultiplier = p.mode === 'Local' ? z : p.mode === 'Distributed' ? z / Math.sqrt(secureThreshold!) : 0;
  return {
    mode: p.mode,
    delta: p.delta,
    budget: p.targetEpsilon,
    noiseMultiplier: z,
    updateNoiseMultiplier: adaptive ? updateNoiseMultiplier(z, adaptive.countStddev) : z,
    siteNoiseMultiplier,
    clipNorm: p.clipping.l2Norm,
    adaptive,
    sampling,
    expectedSites,
    perRound: perRound(p.mode, q, z),
  };
}
