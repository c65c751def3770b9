// Original file: proto/flotilla/site/v1/site.proto


export interface EnrollRequest {
  /**
   * "<id>.<secret>", single use, expiring
   */
  'token'?: (string);
  /**
   * for spiffe://flotilla.dev/site/<site>
   */
  'csrPem'?: (string);
  'agentVersion'?: (string);
}

export interface EnrollRequest__Output {
  /**
   * "<id>.<secret>", single use, expiring
   */
  'token': (string);
  /**
   * for spiffe://flotilla.dev/site/<site>
   */
  'csrPem': (string);
  'agentVersion': (string);
}
