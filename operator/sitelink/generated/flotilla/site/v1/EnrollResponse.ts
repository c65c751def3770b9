// Original file: proto/flotilla/site/v1/site.proto

import type { SignedCertificate as _flotilla_site_v1_SignedCertificate, SignedCertificate__Output as _flotilla_site_v1_SignedCertificate__Output } from '../../../flotilla/site/v1/SignedCertificate.js';

export interface EnrollResponse {
  'site'?: (string);
  'certificate'?: (_flotilla_site_v1_SignedCertificate | null);
}

export interface EnrollResponse__Output {
  'site': (string);
  'certificate': (_flotilla_site_v1_SignedCertificate__Output | null);
}
