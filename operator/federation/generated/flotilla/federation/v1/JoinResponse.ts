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
  /**
   * When set, the ALPN protocol under which this port also takes FetchModel and SubmitUpdate on TLS
   * connections of their own, one call each, without HTTP/2 (operator/federation/bulk-frames.ts).
   */
  'bulkProtocol'?: (string);
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
  /**
   * When set, the ALPN protocol under which this port also takes FetchModel and SubmitUpdate on TLS
   * connections of their own, one call each, without HTTP/2 (operator/federation/bulk-frames.ts).
   */
  'bulkProtocol': (string);
}
