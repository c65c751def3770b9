// Original file: proto/flotilla/site/v1/site.proto

import type { Long } from '@grpc/proto-loader';

export interface SignedCertificate {
  /**
   * leaf, then issuing CA when there is one
   */
  'certificatePem'?: (string);
  /**
   * the trust anchor for the peer (the hub, or the job's aggregator)
   */
  'caPem'?: (string);
  'notAfterUnixMs'?: (number | string | Long);
}

export interface SignedCertificate__Output {
  /**
   * leaf, then issuing CA when there is one
   */
  'certificatePem': (string);
  /**
   * the trust anchor for the peer (the hub, or the job's aggregator)
   */
  'caPem': (string);
  'notAfterUnixMs': (number);
}
