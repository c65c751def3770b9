/**
 * The gateway's record of connected site agents (SiteSessions for the controllers). One session per
 * site: a newer stream of the same site takes the session over, and the end of an older stream then
 * changes nothing. Listeners hear of connects, disconnects, new reports and new certificates; a
 * message that only moves lastSeen does not wake them (the controllers read it when they next run).
 */
import type { SiteSession, SiteSessions } from '../contracts.js';
import type { AssignmentStatus } from '../../sitelink/assignment.js';

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

export class SiteSessionRegistry implements SiteSessions {
  private readonly sessions = new Map<string, { session: SiteSession; owner: object }>();
  private readonly listeners = new Set<(site: string) => void>();

  get(site: string): SiteSession | undefined {
    const entry = this.sessions.get(site);
    return entry && copy(entry.session);
  }

  list(): SiteSession[] {
    return [...this.sessions.values()].map((e) => copy(e.session));
  }

  onChange(listener: (site: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts the session of a stream that sent its hello, replacing any older stream's. */
  open(start: SessionStart): SessionLease {
    const owner = {};
    const now = new Date();
    const { site } = start;
    this.sessions.set(site, { owner, session: { ...start, assignments: [...start.assignments], connectedAt: now, lastSeen: now } });
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
        session.assignments = [...assignments];
        this.changed(site);
      },
      close: () => {
        if (!held()) return;
        this.sessions.delete(site);
        this.changed(site);
      },
    };
  }

  private changed(site: string): void {
    for (const listener of this.listeners) listener(site);
  }
}

function copy(session: SiteSession): SiteSession {
  return { ...session, assignments: session.assignments.map((a) => ({ ...a })) };
}
