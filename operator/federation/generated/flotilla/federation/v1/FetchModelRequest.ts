// Original file: proto/flotilla/federation/v1/federation.proto


export interface FetchModelRequest {
  'round'?: (number);
}

export interface FetchModelRequest__Output {
  'round': (number);
}
