// Original file: proto/flotilla/federation/v1/federation.proto

import type { SecAggEnvelope as _flotilla_federation_v1_SecAggEnvelope, SecAggEnvelope__Output as _flotilla_federation_v1_SecAggEnvelope__Output } from '../../../flotilla/federation/v1/SecAggEnvelope.js';

export interface SecAggShares {
  'envelopes'?: (_flotilla_federation_v1_SecAggEnvelope)[];
}

export interface SecAggShares__Output {
  'envelopes': (_flotilla_federation_v1_SecAggEnvelope__Output)[];
}
