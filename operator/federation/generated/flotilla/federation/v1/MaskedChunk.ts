// Original file: proto/flotilla/federation/v1/federation.proto

import type { Long } from '@grpc/proto-loader';

export interface MaskedChunk {
  /**
   * in words, from the start of the vector
   */
  'offset'?: (number | string | Long);
  /**
   * little-endian 32-bit words
   */
  'words'?: (Buffer | Uint8Array | string);
}

export interface MaskedChunk__Output {
  /**
   * in words, from the start of the vector
   */
  'offset': (number);
  /**
   * little-endian 32-bit words
   */
  'words': (Buffer);
}
