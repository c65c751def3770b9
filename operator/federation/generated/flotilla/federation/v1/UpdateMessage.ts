// Original file: proto/flotilla/federation/v1/federation.proto

import type { UpdateHeader as _flotilla_federation_v1_UpdateHeader, UpdateHeader__Output as _flotilla_federation_v1_UpdateHeader__Output } from '../../../flotilla/federation/v1/UpdateHeader.js';
import type { TensorChunk as _flotilla_federation_v1_TensorChunk, TensorChunk__Output as _flotilla_federation_v1_TensorChunk__Output } from '../../../flotilla/federation/v1/TensorChunk.js';

export interface UpdateMessage {
  'header'?: (_flotilla_federation_v1_UpdateHeader | null);
  'chunk'?: (_flotilla_federation_v1_TensorChunk | null);
  'body'?: "header"|"chunk";
}

export interface UpdateMessage__Output {
  'header'?: (_flotilla_federation_v1_UpdateHeader__Output | null);
  'chunk'?: (_flotilla_federation_v1_TensorChunk__Output | null);
  'body'?: "header"|"chunk";
}
