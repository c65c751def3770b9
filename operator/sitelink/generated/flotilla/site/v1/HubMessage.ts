// Original file: proto/flotilla/site/v1/site.proto

import type { AssignmentSet as _flotilla_site_v1_AssignmentSet, AssignmentSet__Output as _flotilla_site_v1_AssignmentSet__Output } from '../../../flotilla/site/v1/AssignmentSet.js';

export interface HubMessage {
  'assignments'?: (_flotilla_site_v1_AssignmentSet | null);
  'body'?: "assignments";
}

export interface HubMessage__Output {
  'assignments'?: (_flotilla_site_v1_AssignmentSet__Output | null);
  'body'?: "assignments";
}
