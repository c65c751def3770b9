// Original file: proto/flotilla/federation/v1/federation.proto

import type { SecAggAdvertisement as _flotilla_federation_v1_SecAggAdvertisement, SecAggAdvertisement__Output as _flotilla_federation_v1_SecAggAdvertisement__Output } from '../../../flotilla/federation/v1/SecAggAdvertisement.js';
import type { SecAggShares as _flotilla_federation_v1_SecAggShares, SecAggShares__Output as _flotilla_federation_v1_SecAggShares__Output } from '../../../flotilla/federation/v1/SecAggShares.js';
import type { SecAggUnmask as _flotilla_federation_v1_SecAggUnmask, SecAggUnmask__Output as _flotilla_federation_v1_SecAggUnmask__Output } from '../../../flotilla/federation/v1/SecAggUnmask.js';

export interface SecAggRequest {
  'round'?: (number);
  'attempt'?: (number);
  'waitMs'?: (number);
  /**
   * advertise stage
   */
  'advertisement'?: (_flotilla_federation_v1_SecAggAdvertisement | null);
  /**
   * share stage
   */
  'shares'?: (_flotilla_federation_v1_SecAggShares | null);
  /**
   * unmask stage
   */
  'unmask'?: (_flotilla_federation_v1_SecAggUnmask | null);
  'body'?: "advertisement"|"shares"|"unmask";
}

export interface SecAggRequest__Output {
  'round': (number);
  'attempt': (number);
  'waitMs': (number);
  /**
   * advertise stage
   */
  'advertisement'?: (_flotilla_federation_v1_SecAggAdvertisement__Output | null);
  /**
   * share stage
   */
  'shares'?: (_flotilla_federation_v1_SecAggShares__Output | null);
  /**
   * unmask stage
   */
  'unmask'?: (_flotilla_federation_v1_SecAggUnmask__Output | null);
  'body'?: "advertisement"|"shares"|"unmask";
}
