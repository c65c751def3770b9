// Original file: proto/flotilla/federation/v1/federation.proto


export interface NextTaskRequest {
  /**
   * how long the server may hold the call; it answers WAIT at the end
   */
  'waitMs'?: (number);
}

export interface NextTaskRequest__Output {
  /**
   * how long the server may hold the call; it answers WAIT at the end
   */
  'waitMs': (number);
}
