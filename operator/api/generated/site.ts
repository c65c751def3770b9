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
   * The hub namespaces whose FederatedJobs may use this site. None when left out or empty: a job of another namespace that names the site gets no assignment there and says why in its status, and a site selector does not pick the site for it. The hospital's own policy (the site agent's allowedJobNamespaces) is checked as well, at the site.
   *
   * @maxItems 256
   */
  allowedNamespaces?: string[];
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
  /**
   * The metadata.generation of the spec this status was computed from.
   */
  observedGeneration?: number;
  /**
   * Whether the site agent has joined (its join token is then spent).
   */
  enrolled?: boolean;
  /**
   * When the outstanding join token stops working.
   */
  joinTokenExpiry?: string;
  /**
   * When the hub last heard from the site agent.
   */
  lastSeen?: string;
  /**
   * The version of flotilla the site agent runs (as it says, cut to 64 characters).
   */
  agentVersion?: string;
  /**
   * When the site agent's client certificate expires (the agent renews it before then).
   */
  certificateExpiry?: string;
  /**
   * Client pods the site runs now.
   */
  runningJobs?: number;
  /**
   * The jobs the agent last reported, of those the hub gave the site. Each job's own status (FederatedJob status.sites) holds what the site said of it: the Site holds counts only, so that its size does not grow with the number of jobs.
   */
  reportedJobs?: number;
  /**
   * Of those, the jobs the site refused (its policy).
   */
  refusedJobs?: number;
  /**
   * Connected (the site agent holds its stream to the hub), in the metav1.Condition shape.
   *
   * @maxItems 16
   */
  conditions?: {
    /**
     * The condition's name.
     */
    type: string;
    /**
     * Whether the condition holds.
     */
    status: 'True' | 'False' | 'Unknown';
    /**
     * The metadata.generation the condition was computed from.
     */
    observedGeneration?: number;
    /**
     * When status last changed.
     */
    lastTransitionTime: string;
    /**
     * Why, in one CamelCase word, for programs.
     */
    reason: string;
    /**
     * Why, for people.
     */
    message: string;
  }[];
}
