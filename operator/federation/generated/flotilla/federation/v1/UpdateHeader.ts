// Original file: proto/flotilla/federation/v1/federation.proto

import type { TaskKind as _flotilla_federation_v1_TaskKind, TaskKind__Output as _flotilla_federation_v1_TaskKind__Output } from '../../../flotilla/federation/v1/TaskKind.js';
import type { Metrics as _flotilla_federation_v1_Metrics, Metrics__Output as _flotilla_federation_v1_Metrics__Output } from '../../../flotilla/federation/v1/Metrics.js';
import type { ModelHeader as _flotilla_federation_v1_ModelHeader, ModelHeader__Output as _flotilla_federation_v1_ModelHeader__Output } from '../../../flotilla/federation/v1/ModelHeader.js';
import type { ChunkEncoding as _flotilla_federation_v1_ChunkEncoding, ChunkEncoding__Output as _flotilla_federation_v1_ChunkEncoding__Output } from '../../../flotilla/federation/v1/ChunkEncoding.js';
import type { Long } from '@grpc/proto-loader';

export interface UpdateHeader {
  /**
   * INITIALIZE, STATISTICS, TRAIN or EVALUATE
   */
  'kind'?: (_flotilla_federation_v1_TaskKind);
  'round'?: (number);
  'attempt'?: (number);
  /**
   * the weight of this update (training samples seen)
   */
  'numSamples'?: (number | string | Long);
  /**
   * local training figures
   */
  'train'?: (_flotilla_federation_v1_Metrics | null);
  /**
   * the received global model on the local test set
   */
  'eval'?: (_flotilla_federation_v1_Metrics | null);
  /**
   * must equal the global model's (TRAIN), or the statistics vector
   */
  'model'?: (_flotilla_federation_v1_ModelHeader | null);
  /**
   * TRAIN: must be the job's upload encoding
   */
  'encoding'?: (_flotilla_federation_v1_ChunkEncoding);
}

export interface UpdateHeader__Output {
  /**
   * INITIALIZE, STATISTICS, TRAIN or EVALUATE
   */
  'kind': (_flotilla_federation_v1_TaskKind__Output);
  'round': (number);
  'attempt': (number);
  /**
   * the weight of this update (training samples seen)
   */
  'numSamples': (number);
  /**
   * local training figures
   */
  'train': (_flotilla_federation_v1_Metrics__Output | null);
  /**
   * the received global model on the local test set
   */
  'eval': (_flotilla_federation_v1_Metrics__Output | null);
  /**
   * must equal the global model's (TRAIN), or the statistics vector
   */
  'model': (_flotilla_federation_v1_ModelHeader__Output | null);
  /**
   * TRAIN: must be the job's upload encoding
   */
  'encoding': (_flotilla_federation_v1_ChunkEncoding__Output);
}
