// Original file: proto/flotilla/federation/v1/federation.proto

import type { Long } from '@grpc/proto-loader';

export interface Metrics {
  'numSamples'?: (number | string | Long);
  'loss'?: (number | string);
  'accuracy'?: (number | string);
  'extra'?: ({[key: string]: number | string});
}

export interface Metrics__Output {
  'numSamples': (number);
  'loss': (number);
  'accuracy': (number);
  'extra': ({[key: string]: number});
}
