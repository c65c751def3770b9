import { clipInPlace } from './clipping.js';
import { GaussianNoise } from './gaussian.js';

/**
 * Local DP at the site, before anything leaves it: the update's delta Δ = w_site − w_global is
 * clipped to norm C and N(0, (zC)²) is added to every coordinate; what is sent is w_global + the
 * noised Δ. The aggregator then only averages what came.
 */
export function localPrivateUpdate(
  trained: readonly Float32Array[],
  global: readonly Float32Array[],
  clipNorm: number,
  noiseMultiplier: number,
  noise = new GaussianNoise(),
): { tensors: Float32Array[]; norm: number } {
  const deltas = trained.map((t, k) => {
    const g = global[k]!;
    if (g.length !== t.length) throw new RangeError(`tensor ${k} has ${t.length} values, the global model's ${g.length}`);
    return Float32Array.from(t, (x, i) => x - g[i]!);
  });
  const norm = clipInPlace(deltas, clipNorm);
  for (const d of deltas) noise.addTo(d, noiseMultiplier * clipNorm);
  const tensors = deltas.map((d, k) => {
    const g = global[k]!;
    for (let i = 0; i < d.length; i++) d[i]! += g[i]!;
    return d;
  });
  return { tensors, norm };
}
