// Original file: proto/flotilla/site/v1/site.proto

import type { Assignment as _flotilla_site_v1_Assignment, Assignment__Output as _flotilla_site_v1_Assignment__Output } from '../../../flotilla/site/v1/Assignment.js';

/**
 * Everything this site should run now. What the agent runs that is not here, it removes.
 */
export interface AssignmentSet {
  'assignments'?: (_flotilla_site_v1_Assignment)[];
}

/**
 * Everything this site should run now. What the agent runs that is not here, it removes.
 */
export interface AssignmentSet__Output {
  'assignments': (_flotilla_site_v1_Assignment__Output)[];
}
