import { GaussianNoise } from './gaussian.js';

/**
 * Poisson sampling of sites: each site is in the round with probability q, independently, drawn from
 * node:crypto. This is the sampling the accountant's amplification assumes; it holds only if nobody
 * outside the aggregator can predict the draw, which is why the job's (public) seed is not used, and
 * only if the round is not redrawn when few sites were drawn (the aggregator closes it with whoever
 * came, however few).
 */
export function poissonSample(sites: readonly string[], q: number, random = new GaussianNoise()): string[] {
  return sites.filter(() => random.uniform() < q);
}
