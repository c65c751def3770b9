/**
 * Chunk encodings (docs/compression.md): what a chunk's data hold under a job's compression, and
 * their encoders. The layouts are in federation.proto (ChunkEncoding). The decoder, which checks
 * everything a peer could get wrong, is chunk-decoder.ts.
 *
 * Every encoded chunk covers at most DENSE_CHUNK_ELEMENTS elements of one tensor, so what a decoder
 * allocates for one chunk is bounded (1 MiB) whatever a peer claims, and a chunk's offset is in
 * bytes of the dense F32 tensor as for unencoded chunks.
 */
import { CHUNK_BYTES, type WireChunk } from './chunk.js';
import type { ChunkEncoding__Output } from './generated/flotilla/federation/v1/ChunkEncoding.js';

export type Encoding = ChunkEncoding__Output;

/** A job's compression as both ends use it. */
export interface JobCompression {
  download: Encoding;
  upload: Encoding;
  /** TOP_K uploads: the share of each chunk's elements sent. */
  topKFraction: number;
}

export const NO_COMPRESSION: JobCompression = { download: 'ENCODING_NONE', upload: 'ENCODING_NONE', topKFraction: 0 };

/** Elements one encoded chunk covers at most: as many as an unencoded chunk holds. */
export const DENSE_CHUNK_ELEMENTS = CHUNK_BYTES / 4;

/** The largest finite IEEE half float. */
export const FP16_MAX = 65504;

/** Entries a TOP_K chunk of n elements sends (and may send at most): ceil(fraction · n), at least 1. */
export function topKOf(n: number, fraction: number): number {
  return Math.min(n, Math.max(1, Math.ceil(fraction * n)));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half, rounding to nearest even; |x| beyond FP16_MAX is the caller's to refuse. */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit 1 into place, rounding to even.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (rest > midpoint || (rest === midpoint && (half & 1)) ? half + 1 : half);
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++; // may carry into the exponent: still right
  return sign | half;
}

/** IEEE half -> number (exact). NaN and ±Infinity come back as such, for the caller to refuse. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function encodeFp16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!(Math.abs(x) <= FP16_MAX)) throw new RangeError(`element ${i} is ${x}, beyond what FP16 holds (±${FP16_MAX})`);
    view.setUint16(i * 2, toHalf(x), true);
  }
  return out;
}

function encodeInt8(values: Float32Array): Uint8Array {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]!));
  if (!Number.isFinite(max)) throw new RangeError('NaN or Infinity cannot be quantized');
  const scale = Math.fround(max / 127);
  const out = new Uint8Array(4 + values.length);
  new DataView(out.buffer).setFloat32(0, scale, true);
  const q = new Int8Array(out.buffer, 4);
  if (scale > 0) for (let i = 0; i < values.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / scale)));
  return out;
}

/** The k-th smallest of a (0-based), partly reordering it: Hoare's quickselect, O(n) on average. */
function select(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    // The median of three as pivot: a site's own values, not a peer's, so no adversary to fear.
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** The indices of the k largest |values|, ascending. */
export function largestIndices(values: Float32Array, k: number): Uint32Array {
  const magnitudes = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) magnitudes[i] = Math.abs(values[i]!);
  const threshold = select(magnitudes, values.length - k);
  let above = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) > threshold) above++;
  // All elements above the threshold, then ties at it in index order until k.
  let ties = k - above;
  const picked = new Uint32Array(k);
  let m = 0;
  for (let i = 0; i < values.length && m < k; i++) {
    const a = Math.abs(values[i]!);
    if (a > threshold || (a === threshold && ties-- > 0)) picked[m++] = i;
  }
  return picked;
}

function encodeTopK(values: Float32Array, fraction: number): Uint8Array {
  const picked = largestIndices(values, topKOf(values.length, fraction));
  const out = new Uint8Array(4 + 8 * picked.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, values.length, true);
  for (let j = 0; j < picked.length; j++) {
    view.setUint32(4 + 4 * j, picked[j]!, true);
    view.setFloat32(4 + 4 * picked.length + 4 * j, values[picked[j]!]!, true);
  }
  return out;
}

/** One chunk's data under an encoding. */
export function encodeChunk(encoding: Encoding, values: Float32Array, topKFraction = 0): Uint8Array {
  switch (encoding) {
    case 'ENCODING_NONE':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'FP16':
      return encodeFp16(values);
    case 'INT8':
      return encodeInt8(values);
    case 'TOP_K':
      return encodeTopK(values, topKFraction);
  }
}

/** The encoded chunks of F32 arrays, in order, DENSE_CHUNK_ELEMENTS elements at most each. */
export function* encodedChunks(arrays: readonly Float32Array[], encoding: Encoding, topKFraction = 0): Generator<WireChunk> {
  for (let tensor = 0; tensor < arrays.length; tensor++) {
    const a = arrays[tensor]!;
    for (let start = 0; start < a.length; start += DENSE_CHUNK_ELEMENTS) {
      const values = a.subarray(start, Math.min(a.length, start + DENSE_CHUNK_ELEMENTS));
      yield { tensor, offset: start * 4, data: encodeChunk(encoding, values, topKFraction) };
    }
  }
}
