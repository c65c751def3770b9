// Original file: proto/flotilla/federation/v1/federation.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One piece of one tensor. Chunks of a model arrive in order: tensor by tensor, offsets ascending
 * and contiguous.
 */
export interface TensorChunk {
  /**
   * index into the header's tensors
   */
  'tensor'?: (number);
  /**
   * in bytes, from the start of the tensor
   */
  'offset'?: (number | string | Long);
  'data'?: (Buffer | Uint8Array | string);
}

/**
 * One piece of one tensor. Chunks of a model arrive in order: tensor by tensor, offsets ascending
 * and contiguous.
 */
export interface TensorChunk__Output {
  /**
   * index into the header's tensors
   */
  'tensor': (number);
  /**
   * in bytes, from the start of the tensor
   */
  'offset': (number);
  'data': (Buffer);
}
