// Original file: proto/flotilla/federation/v1/federation.proto

import type { ChunkEncoding as _flotilla_federation_v1_ChunkEncoding, ChunkEncoding__Output as _flotilla_federation_v1_ChunkEncoding__Output } from '../../../flotilla/federation/v1/ChunkEncoding.js';

/**
 * The job's compression, told to the site with each TRAIN and EVALUATE task.
 */
export interface Compression {
  'download'?: (_flotilla_federation_v1_ChunkEncoding);
  'upload'?: (_flotilla_federation_v1_ChunkEncoding);
  /**
   * TOP_K uploads: the share of each chunk's elements sent
   */
  'topKFraction'?: (number | string);
}

/**
 * The job's compression, told to the site with each TRAIN and EVALUATE task.
 */
export interface Compression__Output {
  'download': (_flotilla_federation_v1_ChunkEncoding__Output);
  'upload': (_flotilla_federation_v1_ChunkEncoding__Output);
  /**
   * TOP_K uploads: the share of each chunk's elements sent
   */
  'topKFraction': (number);
}
