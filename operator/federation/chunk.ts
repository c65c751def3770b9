/**
 * A chunk of tensor data as the federation protocol carries it (TensorChunk), and how large one is.
 * Below the stream (tensor-stream.ts), the codec (chunk-codec.ts) and the loader (proto.ts), which
 * all speak of chunks.
 */

/** Bytes of tensor data per chunk message: NVIDIA FLARE's figure, well under gRPC's 4 MiB default. */
export const CHUNK_BYTES = 1 << 20;

/** A chunk as it arrives: the generated TensorChunk__Output, or any bytes view. */
export interface WireChunk {
  tensor: number;
  offset: number;
  data: Uint8Array;
}
