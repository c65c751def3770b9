// Original file: proto/flotilla/site/v1/site.proto

import type { AssignmentSet as _flotilla_site_v1_AssignmentSet, AssignmentSet__Output as _flotilla_site_v1_AssignmentSet__Output } from '../../../flotilla/site/v1/AssignmentSet.js';
import type { AssignmentChanges as _flotilla_site_v1_AssignmentChanges, AssignmentChanges__Output as _flotilla_site_v1_AssignmentChanges__Output } from '../../../flotilla/site/v1/AssignmentChanges.js';

export interface HubMessage {
  'assignments'?: (_flotilla_site_v1_AssignmentSet | null);
  'changes'?: (_flotilla_site_v1_AssignmentChanges | null);
  'body'?: "assignments"|"changes";
}

export interface HubMessage__Output {
  'assignments'?: (_flotilla_site_v1_AssignmentSet__Output | null);
  'changes'?: (_flotilla_site_v1_AssignmentChanges__Output | null);
  'body'?: "assignments"|"changes";
}
