/**
 * Turns an encoded chunk (compression.ts) back into the dense F32 chunk the stream validator and
 * the aggregate take, refusing (StreamError 'bad-encoding' or 'too-many-bytes') whatever a peer
 * could get wrong: a bad scale, a NaN, an index out of range, duplicate or unordered indices, more
 * than k entries, a wrong length. Everything it allocates per chunk is bounded by
 * DENSE_CHUNK_ELEMENTS, checked before allocation, whatever the chunk claims.
 *
 * With a base model (an upload's), the decoded values are a delta on it and come back as base +
 * delta, so what follows sees a model, as for an unencoded upload. Each decoded chunk is a fresh
 * buffer: the undo journal may keep it.
 */
import { BYTES_PER_ELEMENT, elementCount, type Model, type TensorSpec } from './model.js';
import type { WireChunk } from './chunk.js';
import { DENSE_CHUNK_ELEMENTS, fromHalf, topKOf, type Encoding } from './compression.js';
import { StreamError } from './stream-error.js';

const bad = (why: string) => new StreamError('bad-encoding', why);

let halves: Float32Array | undefined;
/** Every half float's value (256 KiB, made once): decoding is a lookup. */
function halfTable(): Float32Array {
  if (!halves) {
    halves = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) halves[h] = fromHalf(h);
  }
  return halves;
}

export class ChunkDecoder {
  private readonly elements: number[];

  constructor(
    private readonly specs: readonly TensorSpec[],
    private readonly encoding: Encoding,
    private readonly topKFraction: number,
    private readonly base?: Model,
  ) {
    this.elements = specs.map((s) => elementCount(s.shape));
  }

  decode(chunk: WireChunk): WireChunk {
    if (this.encoding === 'ENCODING_NONE') return chunk;
    const { tensor, offset, data } = chunk;
    const spec = this.specs[tensor];
    if (spec === undefined) throw new StreamError('unknown-tensor', `chunk for tensor ${tensor}: the model has ${this.specs.length} tensors`);
    if (spec.dtype !== 'F32') throw bad(`tensor ${tensor} is ${spec.dtype}: only F32 tensors are encoded`);
    if (offset % BYTES_PER_ELEMENT.F32 !== 0) throw new StreamError('misaligned', `chunk offset ${offset} of tensor ${tensor} is not a whole number of elements`);
    const start = offset / 4;
    const n = this.count(data, tensor);
    if (n === 0) throw new StreamError('empty-chunk', `empty chunk for tensor ${tensor} at byte ${offset}`);
    if (n > DENSE_CHUNK_ELEMENTS) throw bad(`a ${this.encoding} chunk of tensor ${tensor} covers ${n} elements; at most ${DENSE_CHUNK_ELEMENTS}`);
    if (start + n > this.elements[tensor]!) {
      throw new StreamError('too-many-bytes', `chunk ends at element ${start + n} of tensor ${tensor} (${JSON.stringify(spec.name)}), which has ${this.elements[tensor]}`);
    }
    const values = new Float32Array(n);
    this.fill(values, data, tensor);
    const base = this.base?.[tensor]?.data;
    if (base) for (let i = 0; i < n; i++) values[i] = base[start + i]! + values[i]!;
    return { tensor, offset, data: new Uint8Array(values.buffer) };
  }

  /** The elements a chunk covers, from its length (and, for TOP_K, its count), before anything is allocated. */
  private count(data: Uint8Array, tensor: number): number {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    switch (this.encoding) {
      case 'FP16':
        if (data.byteLength % 2 !== 0) throw bad(`an FP16 chunk of tensor ${tensor} has ${data.byteLength} bytes, not 2 per element`);
        return data.byteLength / 2;
      case 'INT8':
        if (data.byteLength < 4) throw bad(`an INT8 chunk of tensor ${tensor} has ${data.byteLength} bytes, less than its scale`);
        return data.byteLength - 4;
      case 'TOP_K': {
        if (data.byteLength < 4 || (data.byteLength - 4) % 8 !== 0) {
          throw bad(`a TOP_K chunk of tensor ${tensor} has ${data.byteLength} bytes: 4, then 8 per entry`);
        }
        return view.getUint32(0, true);
      }
      default:
        throw bad(`unknown encoding ${String(this.encoding)}`);
    }
  }

  private fill(values: Float32Array, data: Uint8Array, tensor: number): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const n = values.length;
    switch (this.encoding) {
      case 'FP16': {
        const table = halfTable();
        for (let i = 0; i < n; i++) values[i] = table[view.getUint16(2 * i, true)]!;
        break;
      }
      case 'INT8': {
        const scale = view.getFloat32(0, true);
        if (!(Number.isFinite(scale) && scale >= 0)) throw bad(`an INT8 chunk of tensor ${tensor} has scale ${scale}: a scale is finite and ≥ 0`);
        for (let i = 0; i < n; i++) {
          const q = view.getInt8(4 + i);
          if (q === -128) throw bad(`an INT8 chunk of tensor ${tensor} has -128 at element ${i}: values are in [-127, 127]`);
          values[i] = q * scale;
        }
        break;
      }
      case 'TOP_K': {
        const m = (data.byteLength - 4) / 8;
        const k = topKOf(n, this.topKFraction);
        if (m > k) throw bad(`a TOP_K chunk of tensor ${tensor} has ${m} entries for ${n} elements; at most ${k} (topKFraction ${this.topKFraction})`);
        let previous = -1;
        for (let j = 0; j < m; j++) {
          const index = view.getUint32(4 + 4 * j, true);
          if (index >= n) throw bad(`a TOP_K chunk of tensor ${tensor} has index ${index}, out of its ${n} elements`);
          if (index <= previous) throw bad(`a TOP_K chunk of tensor ${tensor} has index ${index} after ${previous}: indices are unique and ascending`);
          previous = index;
          values[index] = view.getFloat32(4 + 4 * m + 4 * j, true);
        }
        break;
      }
    }
    // The sum of a finite base and a finite delta may still overflow: the stream validator checks the result.
    for (let i = 0; i < n; i++) if (!Number.isFinite(values[i]!)) throw new StreamError('not-finite', `NaN or Infinity in a ${this.encoding} chunk of tensor ${tensor}`);
  }
}
