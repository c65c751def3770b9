/**
 * The gateway's record of connected site agents (SiteSessions for the controllers). One session per
 * site: a newer stream of the same site takes the session over, and the end of an older stream then
 * changes nothing. Listeners hear of connects, disconnects, enrolments, new reports and new
 * certificates; a message that only moves lastSeen does not wake them (the controllers read it when
 * they next run). A flood of reports wakes them at most once per REPORT_NOTICE_MS per site: the
 * session always holds the latest report, and one notice after the flood carries it.
 */
import type { SiteSession, SiteSessions } from '../contracts.js';
import type { AssignmentStatus } from '../../sitelink/assignment.js';

/** The least time between two notices of a site's reports. */
export const REPORT_NOTICE_MS = 1_000;

/** The handle of one stream's hold on its site's session. */
export interface SessionLease {
  readonly site: string;
  /** Records that the agent spoke (any message). */
  seen(): void;
  /** Records the agent's latest report. */
  report(assignments: AssignmentStatus[]): void;
  /** Ends this stream's hold; a no-op if a newer stream has taken the session over. */
  close(): void;
  /** Whether this stream still holds the session. */
  readonly current: boolean;
}

export interface SessionStart {
  site: string;
  siteUid: string;
  agentVersion: string;
  certificateExpiry: Date;
  assignments: AssignmentStatus[];
}

interface Notices {
  last: number;
  timer?: NodeJS.Timeout;
}

export class SiteSessionRegistry implements SiteSessions {
  private readonly sessions = new Map<string, { session: SiteSession; owner: object }>();
  private readonly listeners = new Set<(site: string) => void>();
  private readonly notices = new Map<string, Notices>();
  private readonly disconnects = new Map<string, Date>();
  private readonly enrolments = new Map<string, { siteUid: string; at: Date }>();
  /** Each recorded report by job, made on first use: a report is frozen, so its index holds while it does. */
  private readonly indexes = new WeakMap<readonly AssignmentStatus[], Map<string, AssignmentStatus>>();

  constructor(private readonly reportNoticeMs = REPORT_NOTICE_MS) {}

  get(site: string): SiteSession | undefined {
    const entry = this.sessions.get(site);
    return entry && copy(entry.session);
  }

  list(): SiteSession[] {
    return [...this.sessions.values()].map((e) => copy(e.session));
  }

  reportOf(site: string, job: string): AssignmentStatus | undefined {
    const reports = this.sessions.get(site)?.session.assignments;
    if (!reports) return undefined;
    let index = this.indexes.get(reports);
    if (!index) {
      index = new Map(reports.map((r) => [`${r.namespace}/${r.job}`, r]));
      this.indexes.set(reports, index);
    }
    return index.get(job);
  }

  disconnectedAt(site: string): Date | undefined {
    return this.disconnects.get(site);
  }

  enrolledAt(site: string, siteUid: string): Date | undefined {
    const enrolment = this.enrolments.get(site);
    return enrolment?.siteUid === siteUid ? enrolment.at : undefined;
  }

  onChange(listener: (site: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The agent of this Site (by uid) enrolled (its token is spent), before it first connects. */
  enrolled(site: string, siteUid: string): void {
    this.enrolments.set(site, { siteUid, at: new Date() });
    this.changed(site);
  }

  /** Starts the session of a stream that sent its hello, replacing any older stream's. */
  open(start: SessionStart): SessionLease {
    const owner = {};
    const now = new Date();
    const { site } = start;
    this.sessions.set(site, { owner, session: { ...start, assignments: frozen(start.assignments), connectedAt: now, lastSeen: now } });
    this.changed(site);
    const held = () => {
      const entry = this.sessions.get(site);
      return entry?.owner === owner ? entry.session : undefined;
    };
    return {
      site,
      get current() {
        return held() !== undefined;
      },
      seen: () => {
        const session = held();
        if (session) session.lastSeen = new Date();
      },
      report: (assignments) => {
        const session = held();
        if (!session) return;
        session.lastSeen = new Date();
        if (JSON.stringify(session.assignments) === JSON.stringify(assignments)) return;
        session.assignments = frozen(assignments);
        this.reported(site);
      },
      close: () => {
        if (!held()) return;
        this.sessions.delete(site);
        this.disconnects.set(site, new Date());
        this.changed(site);
      },
    };
  }

  /** A new report: a notice now, or one at the end of the interval if one went out within it. */
  private reported(site: string): void {
    const notices = this.notices.get(site) ?? { last: 0 };
    this.notices.set(site, notices);
    if (notices.timer) return;
    const wait = notices.last + this.reportNoticeMs - Date.now();
    if (wait <= 0) {
      notices.last = Date.now();
      this.changed(site);
      return;
    }
    notices.timer = setTimeout(() => {
      notices.timer = undefined;
      notices.last = Date.now();
      this.changed(site);
    }, wait);
    notices.timer.unref();
  }

  private changed(site: string): void {
    for (const listener of this.listeners) listener(site);
  }
}

/**
 * A session as handed out: its report is frozen when recorded, so it is shared rather than copied
 * (the controllers read a site's report once per job: copying it each time costs the square of the
 * number of jobs).
 */
function copy(session: SiteSession): SiteSession {
  return { ...session };
}

function frozen(assignments: AssignmentStatus[]): AssignmentStatus[] {
  return Object.freeze(assignments.map((a) => Object.freeze({ ...a }))) as AssignmentStatus[];
}
