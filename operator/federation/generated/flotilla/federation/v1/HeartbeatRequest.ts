// Original file: proto/flotilla/federation/v1/federation.proto


export interface HeartbeatRequest {
  'round'?: (number);
  /**
   * 0..1, for display
   */
  'progress'?: (number | string);
}

export interface HeartbeatRequest__Output {
  'round': (number);
  /**
   * 0..1, for display
   */
  'progress': (number);
}
