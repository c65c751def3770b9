/**
 * A Site's status from its agent's session at the gateway (pure; the site controller writes it).
 * What the agent said last stays while it is away: version, certificate expiry, how many jobs it
 * reported (running, refused, all). What it said of each job is that job's (FederatedJob
 * status.sites, job-status.ts), not the Site's: a Site's size does not grow with the number of
 * jobs, nor is it rewritten for each. A site is enrolled from its agent's enrolment on, before it
 * first connects. What the agent said is cut to the schema's bounds (api/bounds.ts).
 *
 * lastSeen is when the agent last sent a message. It is written when something else about the site
 * changes (a connect, a report, a disconnect: the gateway wakes the controller for those) and only
 * when it moved by more than LAST_SEEN_RESOLUTION_MS: an idle hub writes nothing, and while the
 * agent is connected the Connected condition is what says it is alive.
 */
import { bounded, MAX_AGENT_VERSION } from '../../api/bounds.js';
import type { SiteStatus } from '../../api/generated/site.js';
import { ConditionType, Reason } from '../../api/vocabulary.js';
import { equalStatus, rfc3339, setCondition } from '../../kube/conditions.js';
import type { Site, SiteSession } from '../contracts.js';

export const LAST_SEEN_RESOLUTION_MS = 30_000;
/** A site's status is written at most this often... */
export const MIN_WRITE_INTERVAL_MS = 1_000;
/**
 * ...and at most this often when all that changed is how many jobs it runs, reported or refused, or
 * lastSeen: while a thousand jobs start, the counts move with every report, and a write a second
 * per site was a quarter of a write per job. Whether it is connected, its agent and certificate are
 * written within MIN_WRITE_INTERVAL_MS still.
 */
export const COUNTS_WRITE_INTERVAL_MS = 5_000;

export interface SiteObservation {
  site: Site;
  session: SiteSession | undefined;
  now: Date;
  /** When the outstanding join token expires; undefined when there is none. */
  joinTokenExpiry?: Date;
  /** The agent enrolled (at this replica), though it may not have connected yet. */
  enrolledNow?: boolean;
}

export function siteStatus(o: SiteObservation): SiteStatus {
  const previous = o.site.status ?? {};
  const { session } = o;
  const enrolled = Boolean(previous.enrolled || session || o.enrolledNow);
  const status: SiteStatus = {
    observedGeneration: o.site.metadata.generation,
    enrolled,
    ...(o.joinTokenExpiry ? { joinTokenExpiry: rfc3339(o.joinTokenExpiry) } : {}),
    ...(lastSeen(previous.lastSeen, session) ? { lastSeen: lastSeen(previous.lastSeen, session) } : {}),
    ...optional('agentVersion', session ? bounded(session.agentVersion, MAX_AGENT_VERSION) : previous.agentVersion),
    ...optional('certificateExpiry', session ? rfc3339(session.certificateExpiry) : previous.certificateExpiry),
    ...optional('runningJobs', session ? count(session, 'Running') : previous.runningJobs),
    ...optional('reportedJobs', session ? session.assignments.length : previous.reportedJobs),
    ...optional('refusedJobs', session ? count(session, 'Refused') : previous.refusedJobs),
  };
  const generation = o.site.metadata.generation;
  const connected = o.site.spec.revoked
    ? { status: 'False' as const, reason: Reason.Revoked, message: 'the site is revoked: its certificates are refused' }
    : session
      ? { status: 'True' as const, reason: Reason.AgentConnected, message: `site agent ${session.agentVersion} holds its stream to the hub` }
      : enrolled
        ? { status: 'False' as const, reason: Reason.AgentDisconnected, message: 'the site agent is not connected to the hub' }
        : { status: 'False' as const, reason: Reason.NotEnrolled, message: 'waiting for the site agent to enrol with its join bundle' };
  status.conditions = setCondition(previous.conditions, { type: ConditionType.Connected, observedGeneration: generation, ...connected }, o.now);
  return status;
}

/** How long to wait before writing `next` over `previous`, given when this site's status was last written. */
export function writeDelay(previous: SiteStatus, next: SiteStatus, lastWrittenAt: number | undefined, now: number): number {
  const interval = equalStatus(withoutCounts(previous), withoutCounts(next)) ? COUNTS_WRITE_INTERVAL_MS : MIN_WRITE_INTERVAL_MS;
  return Math.max((lastWrittenAt ?? -Infinity) + interval - now, 0);
}

function withoutCounts(status: SiteStatus): SiteStatus {
  const rest = { ...status };
  for (const key of ['runningJobs', 'reportedJobs', 'refusedJobs', 'lastSeen'] as const) delete rest[key];
  return rest;
}

function count(session: SiteSession, phase: string): number {
  return session.assignments.filter((a) => a.phase === phase).length;
}

function lastSeen(previous: string | undefined, session: SiteSession | undefined): string | undefined {
  if (!session) return previous;
  const seen = session.lastSeen.getTime();
  if (previous && Math.abs(seen - Date.parse(previous)) < LAST_SEEN_RESOLUTION_MS) return previous;
  return rfc3339(session.lastSeen);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
