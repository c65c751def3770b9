import { describe, expect, it } from '@jest/globals';
import { ChunkDecoder } from './chunk-decoder.js';
import { DENSE_CHUNK_ELEMENTS, FP16_MAX, encodeChunk, encodedChunks, fromHalf, largestIndices, toHalf, topKOf, type Encoding } from './compression.js';
import type { Model, TensorSpec } from './model.js';
import { StreamError } from './stream-error.js';
import { ChunkValidator } from './tensor-stream.js';

/** Deterministic values spread over [-1, 1]. */
function values(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out[i] = (x / 2 ** 30 - 1) * 0.9;
  }
  return out;
}

function maxError(x: Float32Array, y: Float32Array): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return max;
}

const spec = (n: number): TensorSpec[] => [{ name: 'w', dtype: 'F32', shape: [n] }];
const decoded = (chunk: { data: Uint8Array }) => new Float32Array(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength / 4);

function decodeAll(encoding: Encoding, a: Float32Array, fraction = 0): Float32Array {
  const out = new Float32Array(a.length);
  const decoder = new ChunkDecoder(spec(a.length), encoding, fraction);
  for (const chunk of encodedChunks([a], encoding, fraction)) out.set(decoded(decoder.decode(chunk)), chunk.offset / 4);
  return out;
}

describe('half floats', () => {
  it('round-trips every finite half exactly, and rounds float32 to the nearest half (ties to even)', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = fromHalf(h);
      if (Number.isFinite(x) && h !== 0x8000 && toHalf(x) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    expect(toHalf(1 + 2 ** -11)).toBe(toHalf(1)); // a tie: stays even
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(toHalf(1 + 2 ** -9)); // a tie: up to even
    expect(fromHalf(toHalf(0.1))).toBeCloseTo(0.1, 3);
    expect(fromHalf(toHalf(2 ** -20))).toBeCloseTo(2 ** -20, 9); // subnormal
  });
});

describe('encodings', () => {
  const a = values(DENSE_CHUNK_ELEMENTS + 1000);

  it('FP16 sends 2 bytes per value, each within half a half-ulp', () => {
    const chunks = [...encodedChunks([a], 'FP16')];
    expect(chunks.map((c) => c.data.byteLength)).toEqual([2 * DENSE_CHUNK_ELEMENTS, 2000]);
    expect(maxError(decodeAll('FP16', a), a)).toBeLessThanOrEqual(2 ** -12);
  });

  it('FP16 refuses to send a value it cannot hold', () => {
    expect(() => encodeChunk('FP16', Float32Array.of(FP16_MAX * 2))).toThrow(/beyond what FP16 holds/);
  });

  it('Int8 sends a scale and 1 byte per value, each within half a step of its chunk', () => {
    const chunks = [...encodedChunks([a], 'INT8')];
    expect(chunks.map((c) => c.data.byteLength)).toEqual([4 + DENSE_CHUNK_ELEMENTS, 4 + 1000]);
    const back = decodeAll('INT8', a);
    for (const [from, to] of [[0, DENSE_CHUNK_ELEMENTS], [DENSE_CHUNK_ELEMENTS, a.length]] as const) {
      const step = maxError(a.subarray(from, to), new Float32Array(to - from)) / 127;
      expect(maxError(back.subarray(from, to), a.subarray(from, to))).toBeLessThanOrEqual(step / 2 + 1e-7);
    }
    expect([...decodeAll('INT8', new Float32Array(5))]).toEqual([0, 0, 0, 0, 0]);
  });

  it('TopK sends the k largest values exactly, with their indices, and zeros elsewhere', () => {
    const small = Float32Array.of(0.1, -3, 0.2, 2, -0.05, 1, 0, -1.5);
    const [chunk] = [...encodedChunks([small], 'TOP_K', 0.25)];
    expect(chunk!.data.byteLength).toBe(4 + 8 * 2);
    expect([...decodeAll('TOP_K', small, 0.25)]).toEqual([0, -3, 0, 2, 0, 0, 0, 0]);
    expect([...largestIndices(Float32Array.of(1, 1, 1, 1), 2)]).toEqual([0, 1]); // ties in index order
    expect([...largestIndices(Float32Array.of(0.5, -2, 2, 0, -2, 1), 3)]).toEqual([1, 2, 4]);
    // Against a full sort, on many sizes and k.
    for (const n of [1, 2, 3, 7, 100, 1001]) {
      const v = values(n, n);
      for (const k of [1, Math.ceil(n / 3), n]) {
        const byMagnitude = [...v.keys()].sort((i, j) => Math.abs(v[j]!) - Math.abs(v[i]!) || i - j).slice(0, k).sort((i, j) => i - j);
        expect([...largestIndices(v, k)]).toEqual(byMagnitude);
      }
    }
    expect(topKOf(10, 0.01)).toBe(1);
    const back = decodeAll('TOP_K', a, 0.1);
    expect(back.filter((x) => x !== 0).length).toBe(topKOf(DENSE_CHUNK_ELEMENTS, 0.1) + topKOf(1000, 0.1));
  });
});

/** A chunk as a hostile peer would write it. */
function raw(bytes: number[] | Uint8Array, tensor = 0, offset = 0) {
  return { tensor, offset, data: Uint8Array.from(bytes) };
}
function le32(...xs: number[]): number[] {
  return [...new Uint8Array(Uint32Array.from(xs).buffer)];
}
function f32(...xs: number[]): number[] {
  return [...new Uint8Array(Float32Array.from(xs).buffer)];
}

describe('ChunkDecoder refuses what a peer could get wrong', () => {
  const fault = (encoding: Encoding, chunk: ReturnType<typeof raw>, n = 16, fraction = 0.25): StreamError => {
    try {
      new ChunkDecoder(spec(n), encoding, fraction).decode(chunk);
    } catch (err) {
      if (err instanceof StreamError) return err;
      throw err;
    }
    throw new Error('the chunk was decoded');
  };

  it.each<[string, Encoding, ReturnType<typeof raw>, string, RegExp]>([
    ['an odd FP16 length', 'FP16', raw([0, 0, 0]), 'bad-encoding', /not 2 per element/],
    ['an FP16 NaN', 'FP16', raw([0, 0, 0x00, 0x7e]), 'not-finite', /NaN or Infinity/],
    ['an FP16 Infinity', 'FP16', raw([0x00, 0x7c]), 'not-finite', /NaN or Infinity/],
    ['an INT8 chunk shorter than its scale', 'INT8', raw([1, 2, 3]), 'bad-encoding', /less than its scale/],
    ['a negative scale', 'INT8', raw([...f32(-1), 5]), 'bad-encoding', /scale -1/],
    ['a NaN scale', 'INT8', raw([...f32(NaN), 5]), 'bad-encoding', /scale NaN/],
    ['an infinite scale', 'INT8', raw([...f32(Infinity), 5]), 'bad-encoding', /scale Infinity/],
    ['-128', 'INT8', raw([...f32(1), 0x80]), 'bad-encoding', /-128/],
    ['a TopK length that is not 4 + 8m', 'TOP_K', raw([...le32(4), 1, 2, 3]), 'bad-encoding', /4, then 8 per entry/],
    ['an index out of range', 'TOP_K', raw([...le32(4, 4), ...f32(1)]), 'bad-encoding', /index 4, out of its 4 elements/],
    ['duplicate indices', 'TOP_K', raw([...le32(8, 1, 1), ...f32(1, 2)]), 'bad-encoding', /index 1 after 1/],
    ['descending indices', 'TOP_K', raw([...le32(8, 3, 1), ...f32(1, 2)]), 'bad-encoding', /index 1 after 3/],
    ['more than k entries', 'TOP_K', raw([...le32(8, 0, 1, 2), ...f32(1, 2, 3)]), 'bad-encoding', /3 entries for 8 elements; at most 2/],
    ['a NaN value', 'TOP_K', raw([...le32(8, 0), ...f32(NaN)]), 'not-finite', /NaN/],
    ['more elements than the tensor has left', 'TOP_K', raw([...le32(8, 0), ...f32(1)], 0, 12 * 4), 'too-many-bytes', /ends at element 20 of tensor 0/],
    ['more elements than a chunk may cover', 'TOP_K', raw([...le32(DENSE_CHUNK_ELEMENTS + 1, 0), ...f32(1)]), 'bad-encoding', /covers 262145 elements/],
    ['an empty chunk', 'TOP_K', raw(le32(0)), 'empty-chunk', /empty chunk/],
    ['an unknown tensor', 'FP16', raw([0, 0], 3), 'unknown-tensor', /the model has 1 tensors/],
    ['a misaligned offset', 'FP16', raw([0, 0], 0, 2), 'misaligned', /not a whole number of elements/],
  ])('%s', (_what, encoding, chunk, reason, message) => {
    const err = fault(encoding, chunk, encoding === 'TOP_K' && _what !== 'more elements than a chunk may cover' ? 16 : DENSE_CHUNK_ELEMENTS + 16);
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });

  it('hands an overflowing base + delta on as Infinity, which the stream validator refuses', () => {
    const base: Model = [{ name: 'w', shape: [1], data: Float32Array.of(3e38) }];
    const decoder = new ChunkDecoder(spec(1), 'TOP_K', 0.5, base);
    const chunk = decoder.decode(raw([...le32(1, 0), ...f32(3e38)]));
    expect(decoded(chunk)[0]).toBe(Infinity);
    expect(() => new ChunkValidator(spec(1)).accept(chunk)).toThrow(/NaN or Infinity/);
  });

  it('adds a base model to the decoded delta', () => {
    const base: Model = [{ name: 'w', shape: [3], data: Float32Array.of(1, 2, 3) }];
    const decoder = new ChunkDecoder(spec(3), 'TOP_K', 0.34, base);
    expect([...decoded(decoder.decode(raw([...le32(3, 1), ...f32(0.5)])))]).toEqual([1, 2.5, 3]);
  });
});
