// Original file: proto/flotilla/federation/v1/federation.proto

import type { Long } from '@grpc/proto-loader';

export interface SubmitUpdateResponse {
  'round'?: (number);
  'bytesReceived'?: (number | string | Long);
}

export interface SubmitUpdateResponse__Output {
  'round': (number);
  'bytesReceived': (number);
}
