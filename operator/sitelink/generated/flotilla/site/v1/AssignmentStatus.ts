// Original file: proto/flotilla/site/v1/site.proto


export interface AssignmentStatus {
  'namespace'?: (string);
  'job'?: (string);
  'jobUid'?: (string);
  /**
   * Pending, Running, Succeeded, Failed, or Refused (outside the site's local policy).
   */
  'phase'?: (string);
  'message'?: (string);
}

export interface AssignmentStatus__Output {
  'namespace': (string);
  'job': (string);
  'jobUid': (string);
  /**
   * Pending, Running, Succeeded, Failed, or Refused (outside the site's local policy).
   */
  'phase': (string);
  'message': (string);
}
