// Original file: proto/flotilla/federation/v1/federation.proto

import type { TensorSpec as _flotilla_federation_v1_TensorSpec, TensorSpec__Output as _flotilla_federation_v1_TensorSpec__Output } from '../../../flotilla/federation/v1/TensorSpec.js';
import type { Long } from '@grpc/proto-loader';

export interface ModelHeader {
  'tensors'?: (_flotilla_federation_v1_TensorSpec)[];
  'totalBytes'?: (number | string | Long);
}

export interface ModelHeader__Output {
  'tensors': (_flotilla_federation_v1_TensorSpec__Output)[];
  'totalBytes': (number);
}
