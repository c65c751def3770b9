// Original file: proto/flotilla/site/v1/site.proto


export interface SignClientCertificateRequest {
  'namespace'?: (string);
  'job'?: (string);
  /**
   * for spiffe://flotilla.dev/ns/<namespace>/job/<job>/site/<site>
   */
  'csrPem'?: (string);
}

export interface SignClientCertificateRequest__Output {
  'namespace': (string);
  'job': (string);
  /**
   * for spiffe://flotilla.dev/ns/<namespace>/job/<job>/site/<site>
   */
  'csrPem': (string);
}
