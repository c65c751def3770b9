// Original file: proto/flotilla/federation/v1/federation.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The public parameters of one secure-aggregation round (operator/secagg/params.ts).
 */
export interface SecAggParams {
  /**
   * 16 random bytes of this attempt: keys and signatures are bound to it
   */
  'nonce'?: (Buffer | Uint8Array | string);
  'neighbours'?: (number);
  'threshold'?: (number);
  /**
   * words of the masked vector: the model's parameters
   */
  'length'?: (number | string | Long);
  'clip'?: (number | string);
  'maxSites'?: (number);
}

/**
 * The public parameters of one secure-aggregation round (operator/secagg/params.ts).
 */
export interface SecAggParams__Output {
  /**
   * 16 random bytes of this attempt: keys and signatures are bound to it
   */
  'nonce': (Buffer);
  'neighbours': (number);
  'threshold': (number);
  /**
   * words of the masked vector: the model's parameters
   */
  'length': (number);
  'clip': (number);
  'maxSites': (number);
}
