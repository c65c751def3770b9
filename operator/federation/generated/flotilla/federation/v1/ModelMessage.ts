// Original file: proto/flotilla/federation/v1/federation.proto

import type { ModelHeader as _flotilla_federation_v1_ModelHeader, ModelHeader__Output as _flotilla_federation_v1_ModelHeader__Output } from '../../../flotilla/federation/v1/ModelHeader.js';
import type { TensorChunk as _flotilla_federation_v1_TensorChunk, TensorChunk__Output as _flotilla_federation_v1_TensorChunk__Output } from '../../../flotilla/federation/v1/TensorChunk.js';

export interface ModelMessage {
  'header'?: (_flotilla_federation_v1_ModelHeader | null);
  'chunk'?: (_flotilla_federation_v1_TensorChunk | null);
  'body'?: "header"|"chunk";
}

export interface ModelMessage__Output {
  'header'?: (_flotilla_federation_v1_ModelHeader__Output | null);
  'chunk'?: (_flotilla_federation_v1_TensorChunk__Output | null);
  'body'?: "header"|"chunk";
}
