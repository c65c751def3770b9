// Original file: proto/flotilla/federation/v1/federation.proto

/**
 * How a chunk's data are encoded (docs/compression.md). A chunk's offset is always in bytes of the
 * dense F32 tensor, so chunks stay in order and contiguous whatever the encoding.
 * ENCODING_NONE: the F32 values.
 * FP16: n IEEE half floats (2 bytes each).
 * INT8: a float32 scale, then n signed bytes q in [-127, 127]; the values are q * scale.
 * TOP_K: a uint32 n (the elements the chunk covers), then m uint32 indices (ascending, below n),
 * then their m float32 values; the other elements are 0. m is at most ceil(top_k_fraction * n).
 * All little-endian. Only F32 tensors of TRAIN and EVALUATE downloads and TRAIN uploads are encoded;
 * an encoded upload carries the update's delta on the model the site received, not the model.
 */
export const ChunkEncoding = {
  ENCODING_NONE: 'ENCODING_NONE',
  FP16: 'FP16',
  INT8: 'INT8',
  TOP_K: 'TOP_K',
} as const;

/**
 * How a chunk's data are encoded (docs/compression.md). A chunk's offset is always in bytes of the
 * dense F32 tensor, so chunks stay in order and contiguous whatever the encoding.
 * ENCODING_NONE: the F32 values.
 * FP16: n IEEE half floats (2 bytes each).
 * INT8: a float32 scale, then n signed bytes q in [-127, 127]; the values are q * scale.
 * TOP_K: a uint32 n (the elements the chunk covers), then m uint32 indices (ascending, below n),
 * then their m float32 values; the other elements are 0. m is at most ceil(top_k_fraction * n).
 * All little-endian. Only F32 tensors of TRAIN and EVALUATE downloads and TRAIN uploads are encoded;
 * an encoded upload carries the update's delta on the model the site received, not the model.
 */
export type ChunkEncoding =
  | 'ENCODING_NONE'
  | 0
  | 'FP16'
  | 1
  | 'INT8'
  | 2
  | 'TOP_K'
  | 3

/**
 * How a chunk's data are encoded (docs/compression.md). A chunk's offset is always in bytes of the
 * dense F32 tensor, so chunks stay in order and contiguous whatever the encoding.
 * ENCODING_NONE: the F32 values.
 * FP16: n IEEE half floats (2 bytes each).
 * INT8: a float32 scale, then n signed bytes q in [-127, 127]; the values are q * scale.
 * TOP_K: a uint32 n (the elements the chunk covers), then m uint32 indices (ascending, below n),
 * then their m float32 values; the other elements are 0. m is at most ceil(top_k_fraction * n).
 * All little-endian. Only F32 tensors of TRAIN and EVALUATE downloads and TRAIN uploads are encoded;
 * an encoded upload carries the update's delta on the model the site received, not the model.
 */
export type ChunkEncoding__Output = typeof ChunkEncoding[keyof typeof ChunkEncoding]
