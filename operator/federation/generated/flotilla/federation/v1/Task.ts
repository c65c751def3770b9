// Original file: proto/flotilla/federation/v1/federation.proto

import type { TaskKind as _flotilla_federation_v1_TaskKind, TaskKind__Output as _flotilla_federation_v1_TaskKind__Output } from '../../../flotilla/federation/v1/TaskKind.js';
import type { TrainParams as _flotilla_federation_v1_TrainParams, TrainParams__Output as _flotilla_federation_v1_TrainParams__Output } from '../../../flotilla/federation/v1/TrainParams.js';
import type { ModelHeader as _flotilla_federation_v1_ModelHeader, ModelHeader__Output as _flotilla_federation_v1_ModelHeader__Output } from '../../../flotilla/federation/v1/ModelHeader.js';
import type { Compression as _flotilla_federation_v1_Compression, Compression__Output as _flotilla_federation_v1_Compression__Output } from '../../../flotilla/federation/v1/Compression.js';
import type { SecAggParams as _flotilla_federation_v1_SecAggParams, SecAggParams__Output as _flotilla_federation_v1_SecAggParams__Output } from '../../../flotilla/federation/v1/SecAggParams.js';
import type { Long } from '@grpc/proto-loader';

export interface Task {
  'kind'?: (_flotilla_federation_v1_TaskKind);
  /**
   * TRAIN: the round (1-based); EVALUATE: the last round
   */
  'round'?: (number);
  /**
   * a round retried after a missed quorum has attempt > 0
   */
  'attempt'?: (number);
  'params'?: (_flotilla_federation_v1_TrainParams | null);
  /**
   * what FetchModel will send, for TRAIN and EVALUATE
   */
  'model'?: (_flotilla_federation_v1_ModelHeader | null);
  /**
   * the aggregated federated statistics, once computed
   */
  'statistics'?: (number | string)[];
  'deadlineUnixMs'?: (number | string | Long);
  /**
   * DONE: how the job ended
   */
  'message'?: (string);
  /**
   * DONE: whether it succeeded
   */
  'succeeded'?: (boolean);
  /**
   * TRAIN and EVALUATE: how FetchModel's chunks and the update's are encoded
   */
  'compression'?: (_flotilla_federation_v1_Compression | null);
  /**
   * TRAIN under secure aggregation: the round's public parameters
   */
  'secagg'?: (_flotilla_federation_v1_SecAggParams | null);
}

export interface Task__Output {
  'kind': (_flotilla_federation_v1_TaskKind__Output);
  /**
   * TRAIN: the round (1-based); EVALUATE: the last round
   */
  'round': (number);
  /**
   * a round retried after a missed quorum has attempt > 0
   */
  'attempt': (number);
  'params': (_flotilla_federation_v1_TrainParams__Output | null);
  /**
   * what FetchModel will send, for TRAIN and EVALUATE
   */
  'model': (_flotilla_federation_v1_ModelHeader__Output | null);
  /**
   * the aggregated federated statistics, once computed
   */
  'statistics': (number)[];
  'deadlineUnixMs': (number);
  /**
   * DONE: how the job ended
   */
  'message': (string);
  /**
   * DONE: whether it succeeded
   */
  'succeeded': (boolean);
  /**
   * TRAIN and EVALUATE: how FetchModel's chunks and the update's are encoded
   */
  'compression': (_flotilla_federation_v1_Compression__Output | null);
  /**
   * TRAIN under secure aggregation: the round's public parameters
   */
  'secagg': (_flotilla_federation_v1_SecAggParams__Output | null);
}
