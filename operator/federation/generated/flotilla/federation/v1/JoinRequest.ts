// Original file: proto/flotilla/federation/v1/federation.proto


export interface JoinRequest {
  'protocolVersion'?: (number);
  'clientVersion'?: (string);
}

export interface JoinRequest__Output {
  'protocolVersion': (number);
  'clientVersion': (string);
}
