// Original file: proto/flotilla/federation/v1/federation.proto

import type { SecAggShare as _flotilla_federation_v1_SecAggShare, SecAggShare__Output as _flotilla_federation_v1_SecAggShare__Output } from '../../../flotilla/federation/v1/SecAggShare.js';

export interface SecAggUnmask {
  'selfMaskShares'?: (_flotilla_federation_v1_SecAggShare)[];
  'maskKeyShares'?: (_flotilla_federation_v1_SecAggShare)[];
}

export interface SecAggUnmask__Output {
  'selfMaskShares': (_flotilla_federation_v1_SecAggShare__Output)[];
  'maskKeyShares': (_flotilla_federation_v1_SecAggShare__Output)[];
}
