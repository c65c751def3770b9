// Original file: proto/flotilla/site/v1/site.proto


export interface JobRef {
  'namespace'?: (string);
  'job'?: (string);
}

export interface JobRef__Output {
  'namespace': (string);
  'job': (string);
}
