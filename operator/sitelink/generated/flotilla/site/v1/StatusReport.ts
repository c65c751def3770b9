// Original file: proto/flotilla/site/v1/site.proto

import type { AssignmentStatus as _flotilla_site_v1_AssignmentStatus, AssignmentStatus__Output as _flotilla_site_v1_AssignmentStatus__Output } from '../../../flotilla/site/v1/AssignmentStatus.js';

export interface StatusReport {
  'assignments'?: (_flotilla_site_v1_AssignmentStatus)[];
}

export interface StatusReport__Output {
  'assignments': (_flotilla_site_v1_AssignmentStatus__Output)[];
}
