/**
 * What the hub asks of a site, and what the site says back: both ends' side of the site protocol's
 * Assignment and AssignmentStatus messages (sitelink/convert.ts maps between them and the wire).
 */

/** What a site should run for one job: proto flotilla.site.v1.Assignment. */
export interface Assignment {
  namespace: string;
  job: string;
  jobUid: string;
  generation: number;
  aggregatorAddress: string;
  image: string;
  /** The FederatedJob the client runs with, as JSON. */
  jobManifest: string;
  dataClaimName?: string;
  dataPath?: string;
  resourceLimits: Record<string, string>;
  resourceRequests: Record<string, string>;
  nodeSelector: Record<string, string>;
  tolerationsJson: string;
}

/** A job by name: proto flotilla.site.v1.JobRef. */
export interface JobRef {
  namespace: string;
  job: string;
}

export type AssignmentPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Refused';

export interface AssignmentStatus {
  namespace: string;
  job: string;
  jobUid: string;
  phase: AssignmentPhase;
  message: string;
}
