/**
 * The seams between the hub's parts, so that the controllers (operator/hub/controllers), the site
 * gateway (operator/hub/gateway) and the operator's wiring (operator/hub/operator.ts) can each be
 * read alone.
 */
import type { FederatedJob } from '../api/federatedjob.js';
import type { SiteSpec, SiteStatus } from '../api/generated/site.js';
import type { Assignment, AssignmentStatus } from '../sitelink/assignment.js';

export interface Site {
  apiVersion: 'flotilla.dev/v1alpha1';
  kind: 'Site';
  metadata: {
    name: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
  spec: SiteSpec;
  status?: SiteStatus;
}

/** A read-only view of an informer's cache. Keys are "namespace/name" (or "name" when cluster-scoped). */
export interface CacheView<T> {
  get(key: string): T | undefined;
  list(): T[];
}

/** Derived from the caches by the controllers' side; the gateway streams it to each site's agent. */
export interface AssignmentSource {
  /** The complete set the site should run now (empty for a cordoned-and-idle or unknown site). */
  assignmentsFor(site: string): Assignment[];
  /** The site's assignment of one job ("namespace/name"), if it is in that set. */
  assignmentFor(site: string, job: string): Assignment | undefined;
  /**
   * The jobs ("namespace/name/uid") a site's reports are kept about: those the hub may give the
   * site now, and those that selected it and are being deleted or have ended (their clients may
   * still be there). A report of any other job is dropped at the gateway.
   */
  reportable(site: string): ReadonlySet<string>;
  /** Called with the sites whose set may have changed. */
  onChange(listener: (sites: string[]) => void): () => void;
}

export interface SiteSession {
  site: string;
  /** The uid of the Site incarnation the agent's certificate names. */
  siteUid: string;
  agentVersion: string;
  connectedAt: Date;
  lastSeen: Date;
  certificateExpiry: Date;
  /** The agent's latest report. */
  assignments: AssignmentStatus[];
}

/**
 * The gateway's record of connected agents, in memory on the leader. The controllers read it to
 * write Site and FederatedJob status; it tells them when something changed.
 */
export interface SiteSessions {
  get(site: string): SiteSession | undefined;
  list(): SiteSession[];
  /** What the site's agent last reported of one job ("namespace/name"), if it did: found by key, not by a pass over the report. */
  reportOf(site: string, job: string): AssignmentStatus | undefined;
  /** When this replica last saw the site's agent stream end (undefined: not since it started). */
  disconnectedAt(site: string): Date | undefined;
  /** When the agent of the Site with this uid enrolled at this replica (it may not have connected yet). */
  enrolledAt(site: string, siteUid: string): Date | undefined;
  onChange(listener: (site: string) => void): () => void;
}

/** The revoked sites, as a job's aggregator takes them (pki/revocation-list.ts). */
export interface RevocationSource {
  /** The revocation list signed by the job's CA for its aggregator. */
  signedFor(job: { namespace: string; name: string; uid: string }): Promise<string>;
}

export type { FederatedJob };
