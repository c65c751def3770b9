// Original file: proto/flotilla/federation/v1/federation.proto


export interface SecAggShare {
  'of'?: (string);
  'y'?: (Buffer | Uint8Array | string);
}

export interface SecAggShare__Output {
  'of': (string);
  'y': (Buffer);
}
