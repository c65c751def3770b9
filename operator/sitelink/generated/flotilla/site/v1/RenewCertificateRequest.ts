// Original file: proto/flotilla/site/v1/site.proto


export interface RenewCertificateRequest {
  'csrPem'?: (string);
}

export interface RenewCertificateRequest__Output {
  'csrPem': (string);
}
