// Original file: proto/flotilla/federation/v1/federation.proto

import type { DType as _flotilla_federation_v1_DType, DType__Output as _flotilla_federation_v1_DType__Output } from '../../../flotilla/federation/v1/DType.js';
import type { Long } from '@grpc/proto-loader';

export interface TensorSpec {
  'name'?: (string);
  'dtype'?: (_flotilla_federation_v1_DType);
  'shape'?: (number | string | Long)[];
}

export interface TensorSpec__Output {
  'name': (string);
  'dtype': (_flotilla_federation_v1_DType__Output);
  'shape': (number)[];
}
