/**
 * Fixed-point quantization modulo 2^32. A coordinate x is clipped to [-c, c] and mapped to
 * round(x·s) as a two's-complement 32-bit word, with s = (2^31 - n) / (n·c) for at most n sites:
 * n such words add up to less than 2^31 in magnitude, so their sum mod 2^32, read back as a signed
 * integer, is their exact integer sum.
 *
 * The error bound: each site's word is within 1/(2s) of x·s/s, so the decoded sum of m ≤ n sites
 * is within m/(2s) of the sum of the clipped coordinates (plus a float64 rounding far below it).
 */

/** The scale s for at most `maxSites` sites whose coordinates are clipped to [-clip, clip]. */
export function scaleOf(clip: number, maxSites: number): number {
  return (2 ** 31 - maxSites) / (maxSites * clip);
}

/** The largest difference between a decoded sum of `sites` updates and the sum of their clipped values. */
export function quantizationBound(clip: number, maxSites: number, sites: number): number {
  return sites / (2 * scaleOf(clip, maxSites));
}

/** Writes the words of values[from, from + out.length) (clipped, scaled, rounded) into `out`. */
export function quantize(values: ArrayLike<number>, clip: number, maxSites: number, out: Uint32Array, from = 0): void {
  if (from + out.length > values.length) throw new Error(`quantize: ${out.length} words from ${values.length - from} values`);
  const scale = scaleOf(clip, maxSites);
  for (let i = 0; i < out.length; i++) {
    const v = values[from + i]!;
    // NaN is clipped to 0: it must not poison everyone's sum.
    const clipped = v > clip ? clip : v < -clip ? -clip : v === v ? v : 0;
    out[i] = Math.round(clipped * scale) >>> 0;
  }
}

/** The real-valued sums of `words` (a sum of quantized vectors mod 2^32). */
export function dequantize(words: Uint32Array, clip: number, maxSites: number, out: Float64Array): void {
  if (out.length !== words.length) throw new Error(`dequantize: ${words.length} words into ${out.length} values`);
  const scale = scaleOf(clip, maxSites);
  for (let i = 0; i < words.length; i++) out[i] = (words[i]! | 0) / scale;
}
