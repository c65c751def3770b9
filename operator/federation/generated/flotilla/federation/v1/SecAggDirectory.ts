// Original file: proto/flotilla/federation/v1/federation.proto

import type { SecAggAdvertisement as _flotilla_federation_v1_SecAggAdvertisement, SecAggAdvertisement__Output as _flotilla_federation_v1_SecAggAdvertisement__Output } from '../../../flotilla/federation/v1/SecAggAdvertisement.js';

export interface SecAggDirectory {
  'sites'?: (string)[];
  'advertisements'?: (_flotilla_federation_v1_SecAggAdvertisement)[];
}

export interface SecAggDirectory__Output {
  'sites': (string)[];
  'advertisements': (_flotilla_federation_v1_SecAggAdvertisement__Output)[];
}
