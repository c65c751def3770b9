// Original file: proto/flotilla/federation/v1/federation.proto


export interface JoinResponse {
  'protocolVersion'?: (number);
  /**
   * as read from the client's certificate
   */
  'job'?: (string);
  /**
   * as read from the client's certificate
   */
  'site'?: (string);
  'rounds'?: (number);
  'heartbeatIntervalMs'?: (number);
}

export interface JoinResponse__Output {
  'protocolVersion': (number);
  /**
   * as read from the client's certificate
   */
  'job': (string);
  /**
   * as read from the client's certificate
   */
  'site': (string);
  'rounds': (number);
  'heartbeatIntervalMs': (number);
}
