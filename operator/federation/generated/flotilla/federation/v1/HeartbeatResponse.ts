// Original file: proto/flotilla/federation/v1/federation.proto


export interface HeartbeatResponse {
  'roundOpen'?: (boolean);
}

export interface HeartbeatResponse__Output {
  'roundOpen': (boolean);
}
