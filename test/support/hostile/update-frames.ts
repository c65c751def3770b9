/**
 * What a site sends in SubmitUpdate, as gRPC frames of this harness's own encoding: an
 * UpdateHeader, then the arrays' bytes in chunks (tensor by tensor, byte offsets ascending). Tests
 * take the honest frames and bend them: a value changed, a chunk dropped, a header lying.
 */
import { frame } from './grpc-wire.js';
import { updateChunkMessage, updateHeaderMessage, type WireChunk, type WireModelHeader, type WireTensorSpec, type WireUpdateHeader } from './federation-wire.js';

export const CHUNK_BYTES = 1 << 20;

/** Float32 or float64 values of one tensor. */
export type Values = Float32Array | Float64Array;

/** The chunks of the arrays, each at most chunkBytes of one tensor. */
export function chunksOf(arrays: readonly Values[], chunkBytes = CHUNK_BYTES): WireChunk[] {
  const chunks: WireChunk[] = [];
  arrays.forEach((array, tensor) => {
    const bytes = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
    for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
      chunks.push({ tensor, offset, data: bytes.subarray(offset, Math.min(bytes.length, offset + chunkBytes)) });
    }
  });
  return chunks;
}

/** The header of a model made of these tensors. */
export function modelHeaderOf(specs: readonly WireTensorSpec[]): WireModelHeader {
  const bytesPer = (dtype: WireTensorSpec['dtype']) => (dtype === 'F64' || dtype === 2 ? 8 : 4);
  const totalBytes = specs.reduce((n, s) => n + s.shape.reduce<number>((m, d) => m * Number(d), 1) * bytesPer(s.dtype), 0);
  return { tensors: specs.map((s) => ({ ...s, shape: [...s.shape] })), totalBytes };
}

/** An update's frames: its header message, then one message per chunk. */
export function updateFrames(header: WireUpdateHeader, chunks: readonly WireChunk[]): Buffer[] {
  return [frame(updateHeaderMessage(header)), ...chunks.map((c) => frame(updateChunkMessage(c)))];
}
