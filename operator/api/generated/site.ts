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
   * The version of flotilla the site agent runs.
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
   * The site's assignments and their state as the agent last reported it.
   */
  jobs?: {
    /**
     * The FederatedJob's namespace at the hub.
     */
    namespace: string;
    /**
     * The FederatedJob's name.
     */
    name: string;
    /**
     * Pending, Running, Succeeded, Failed or Refused.
     */
    phase?: string;
    /**
     * What the site agent said about the job's client (why it refused it, for example).
     */
    message?: string;
  }[];
  /**
   * Connected (the site agent holds its stream to the hub), in the metav1.Condition shape.
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
