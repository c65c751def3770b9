// Original file: proto/flotilla/federation/v1/federation.proto

import type { UpdateHeader as _flotilla_federation_v1_UpdateHeader, UpdateHeader__Output as _flotilla_federation_v1_UpdateHeader__Output } from '../../../flotilla/federation/v1/UpdateHeader.js';
import type { MaskedChunk as _flotilla_federation_v1_MaskedChunk, MaskedChunk__Output as _flotilla_federation_v1_MaskedChunk__Output } from '../../../flotilla/federation/v1/MaskedChunk.js';

export interface MaskedMessage {
  'header'?: (_flotilla_federation_v1_UpdateHeader | null);
  'chunk'?: (_flotilla_federation_v1_MaskedChunk | null);
  'body'?: "header"|"chunk";
}

export interface MaskedMessage__Output {
  'header'?: (_flotilla_federation_v1_UpdateHeader__Output | null);
  'chunk'?: (_flotilla_federation_v1_MaskedChunk__Output | null);
  'body'?: "header"|"chunk";
}
