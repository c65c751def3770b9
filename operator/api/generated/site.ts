/* Generated from crds/flotilla.dev_sites.yaml by scripts/gen-api-types.mjs. Do not edit: change the CRD and run npm run gen:types. */
/**
 * What the hub allows of this site.
 */
export interface SiteSpec {
  /**
   * The hospital's name, for people.
   */
  displayName?: string;
  /**
   * A cordoned site gets no new assignments; what it runs carries on.
   */
  cordoned: boolean;
  /**
   * A revoked site's certificates are refused from then on and its live connections are cut. Revocation cannot be undone: enrol the hospital again as a new Site.
   */
  revoked: boolean;
}

/**
 * Observed state, written by the operator.
 */
export interface SiteStatus {
  observedGeneration?: number;
  /**
   * Whether the site agent has joined (its join token is then spent).
   */
  enrolled?: boolean;
  /**
   * When the outstanding join token stops working.
   */
  joinTokenExpiry?: string;
  lastSeen?: string;
  agentVersion?: string;
  certificateExpiry?: string;
  /**
   * Client pods the site runs now.
   */
  runningJobs?: number;
  /**
   * The site's assignments and their state as the agent last reported it.
   */
  jobs?: {
    namespace: string;
    name: string;
    /**
     * Pending, Running, Succeeded, Failed or Refused.
     */
    phase?: string;
    message?: string;
  }[];
  conditions?: {
    type: string;
    status: 'True' | 'False' | 'Unknown';
    observedGeneration?: number;
    lastTransitionTime: string;
    reason: string;
    message: string;
  }[];
}
