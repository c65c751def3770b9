// Original file: proto/flotilla/site/v1/site.proto

import type { Assignment as _flotilla_site_v1_Assignment, Assignment__Output as _flotilla_site_v1_Assignment__Output } from '../../../flotilla/site/v1/Assignment.js';
import type { JobRef as _flotilla_site_v1_JobRef, JobRef__Output as _flotilla_site_v1_JobRef__Output } from '../../../flotilla/site/v1/JobRef.js';

/**
 * What changed since the last AssignmentSet or AssignmentChanges on this stream: the stream is
 * ordered and a new stream begins with a complete set, so nothing is missed between them.
 */
export interface AssignmentChanges {
  /**
   * new, or replacing the job's assignment
   */
  'changed'?: (_flotilla_site_v1_Assignment)[];
  /**
   * no longer to run: the agent removes what it runs of them
   */
  'withdrawn'?: (_flotilla_site_v1_JobRef)[];
}

/**
 * What changed since the last AssignmentSet or AssignmentChanges on this stream: the stream is
 * ordered and a new stream begins with a complete set, so nothing is missed between them.
 */
export interface AssignmentChanges__Output {
  /**
   * new, or replacing the job's assignment
   */
  'changed': (_flotilla_site_v1_Assignment__Output)[];
  /**
   * no longer to run: the agent removes what it runs of them
   */
  'withdrawn': (_flotilla_site_v1_JobRef__Output)[];
}
