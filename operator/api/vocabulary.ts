/**
 * The words the API's status speaks, spelled once: a FederatedJob's phases, the condition types of
 * FederatedJob and Site, their reasons, the reasons of the Events the operator records, and the
 * labels that tie objects to a job or a site. docs/architecture.md tables them for users.
 */
import type { FederatedJobStatus } from './generated/federatedjob.js';

export type JobPhase = NonNullable<FederatedJobStatus['phase']>;

/** Every phase, in the order a job goes through them (the CRD's enum). */
export const JOB_PHASES: readonly JobPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed'];

export type FinalPhase = Extract<JobPhase, 'Succeeded' | 'Failed'>;

/** Succeeded or Failed: a job, an aggregator or a site's client there stays there. */
export function isFinal(phase: string | undefined): phase is FinalPhase {
  return phase === 'Succeeded' || phase === 'Failed';
}

export const ConditionType = {
  /** FederatedJob: the sites can train now (the aggregator serves, nothing the job needs is refused). */
  Ready: 'Ready',
  /** FederatedJob: rounds are being run. */
  Progressing: 'Progressing',
  /** FederatedJob, once ended: how. */
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  /** FederatedJob: every selected site runs its client. */
  SitesReady: 'SitesReady',
  /** Site: its agent holds its stream to the hub. */
  Connected: 'Connected',
} as const;

export const Reason = {
  // FederatedJob Ready
  AggregatorAvailable: 'AggregatorAvailable',
  AggregatorStarting: 'AggregatorStarting',
  AggregatorUnavailable: 'AggregatorUnavailable',
  /** The API server refused an object the job needs; the message names it and quotes the server. */
  ObjectRefused: 'ObjectRefused',
  /** An object of a name the job needs exists and is someone else's: left untouched; the message names it. */
  ObjectConflict: 'ObjectConflict',
  WaitingForSites: 'WaitingForSites',
  WaitingForAddress: 'WaitingForAddress',
  InvalidName: 'InvalidName',
  Finished: 'Finished',
  // FederatedJob Progressing (once ended, the reason is the phase)
  RoundsInProgress: 'RoundsInProgress',
  Pending: 'Pending',
  // FederatedJob Succeeded and Failed
  RoundsCompleted: 'RoundsCompleted',
  AggregatorFailed: 'AggregatorFailed',
  // FederatedJob SitesReady
  ClientsRunning: 'ClientsRunning',
  ClientsNotRunning: 'ClientsNotRunning',
  SiteRefused: 'SiteRefused',
  /** A listed Site does not allow the job's namespace (its spec.allowedNamespaces): no assignment there. */
  SiteNotAllowed: 'SiteNotAllowed',
  // Site Connected
  AgentConnected: 'AgentConnected',
  AgentDisconnected: 'AgentDisconnected',
  NotEnrolled: 'NotEnrolled',
  Revoked: 'Revoked',
} as const;

/** Reasons of the Events recorded about a FederatedJob. */
export const EventReason = {
  Created: 'Created',
  Running: 'Running',
  RoundCompleted: 'RoundCompleted',
  SiteRefused: 'SiteRefused',
  SiteNotAllowed: 'SiteNotAllowed',
  ObjectRefused: 'ObjectRefused',
  ObjectConflict: 'ObjectConflict',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
} as const;

/** The hub job an object belongs to (its name; at the site, with JOB_NAMESPACE_LABEL beside it). */
export const JOB_LABEL = 'flotilla.dev/job';
/** The site an object at the hub is about (join tokens and bundles). */
export const SITE_LABEL = 'flotilla.dev/site';
