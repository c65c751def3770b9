/**
 * One site agent's Connect stream, at the hub. The first message must be a hello, within the hello
 * timeout; from then on the stream holds the site's session, the agent's reports update it (what
 * reports.ts keeps of them), and the hub pushes the site's complete assignment set at once and,
 * whenever it may have changed, what changed since (the complete set again to an agent that did not
 * say in its hello that it takes changes): at most once per PUSH_INTERVAL_MS, and never while the
 * agent has not taken the last message off the connection. A burst of changes (a thousand jobs
 * created at once) so sends a few messages, each bringing the agent to the latest set, and each
 * job's assignment crosses the wire once per change, not once per push.
 */
import { X509Certificate } from 'node:crypto';
import { status, type Metadata, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../../log.js';
import type { AssignmentSource } from '../contracts.js';
import { assignmentToMessage, statusesFromMessage } from '../../sitelink/convert.js';
import type { AgentMessage__Output, HubMessage } from '../../sitelink/proto.js';
import { printable } from '../../api/bounds.js';
import type { Assignment, AssignmentStatus } from '../../sitelink/assignment.js';
import type { SiteRef } from '../pki.js';
import { keptReports, keptVersion } from './reports.js';
import type { SessionLease, SiteSessionRegistry } from './sessions.js';

export const PUSH_INTERVAL_MS = 250;

const keyOf = (a: Assignment) => `${a.namespace}/${a.job}`;

function sameAssignment(before: Assignment | undefined, now: Assignment): boolean {
  return before === now || (before !== undefined && JSON.stringify(before) === JSON.stringify(now));
}

export type AgentCall = ServerDuplexStream<AgentMessage__Output, HubMessage>;

export interface AgentStreamContext {
  assignments: AssignmentSource;
  sessions: SiteSessionRegistry;
  helloTimeoutMs: number;
  log: Logger;
  /** Called once the stream holds the session (after its hello). */
  onOpen(stream: AgentStream): void;
  /** Called once the stream is over, however it ended. */
  onClose(stream: AgentStream): void;
}

export class AgentStream {
  private lease: SessionLease | undefined;
  /** The set as this stream last sent it, by job ("namespace/name"): the agent's copy. */
  private sent: Map<string, Assignment> | undefined;
  /** The agent said in its hello that it applies AssignmentChanges. */
  private acceptsChanges = false;
  private lastPushAt = 0;
  private pushTimer: NodeJS.Timeout | undefined;
  /** The connection holds a set the agent has not read yet ('drain' pushes again). */
  private backedUp = false;
  private finished = false;
  private readonly helloTimer: NodeJS.Timeout;

  readonly site: string;
  /** The uid of the Site incarnation the agent's certificate names. */
  readonly siteUid: string;

  constructor(
    ref: SiteRef,
    private readonly call: AgentCall,
    private readonly context: AgentStreamContext,
  ) {
    this.site = ref.name;
    this.siteUid = ref.uid;
    this.helloTimer = setTimeout(
      () => this.cut(status.DEADLINE_EXCEEDED, `no hello within ${context.helloTimeoutMs} ms of connecting`),
      context.helloTimeoutMs,
    );
    call.on('data', (message: AgentMessage__Output) => this.receive(message));
    // The agent half-closed: it is leaving.
    call.on('end', () => {
      if (!this.finished) call.end();
      this.finish();
    });
    call.on('cancelled', () => this.finish());
    call.on('error', () => this.finish());
    call.on('close', () => this.finish());
  }

  /** Whether the agent has said hello (the stream holds, or held, the site's session). */
  get opened(): boolean {
    return this.lease !== undefined;
  }

  /** Sends the site's assignment set if it differs from what this stream last sent, now or soon. */
  push(): void {
    if (this.finished || !this.lease || this.pushTimer || this.backedUp) return;
    const wait = this.lastPushAt + PUSH_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.pushTimer = setTimeout(() => {
        this.pushTimer = undefined;
        this.push();
      }, wait);
      return;
    }
    this.send();
  }

  private send(): void {
    if (this.finished || !this.lease) return;
    this.lastPushAt = Date.now();
    const message = this.messageFor(this.context.assignments.assignmentsFor(this.site));
    if (!message) return;
    if (this.call.write(message)) return;
    this.backedUp = true;
    this.call.once('drain', () => {
      this.backedUp = false;
      this.push();
    });
  }

  /**
   * What brings the agent's copy to `current`: the complete set first (and always, to an agent that
   * takes no changes), then the assignments that are new or changed and the jobs withdrawn; nothing
   * when nothing changed. An unchanged assignment is the same object (JobAssignments keeps them).
   */
  private messageFor(current: Assignment[]): HubMessage | undefined {
    const before = this.sent;
    const now = new Map(current.map((a) => [keyOf(a), a]));
    this.sent = now;
    const changed = current.filter((a) => !sameAssignment(before?.get(keyOf(a)), a));
    const withdrawn = before ? [...before.values()].filter((a) => !now.has(keyOf(a))) : [];
    if (before && changed.length === 0 && withdrawn.length === 0) return undefined;
    if (!before || !this.acceptsChanges) return { assignments: { assignments: current.map(assignmentToMessage) } };
    return {
      changes: {
        changed: changed.map(assignmentToMessage),
        withdrawn: withdrawn.map(({ namespace, job }) => ({ namespace, job })),
      },
    };
  }

  /** Ends the stream with a status (and trailers) the agent sees. */
  cut(code: status, details: string, trailers?: Metadata): void {
    if (this.finished) return;
    this.context.log.info('agent stream cut', { site: this.site, code: status[code], reason: details });
    this.call.emit('error', { code, details, name: 'Error', message: details, ...(trailers ? { metadata: trailers } : {}) });
    this.finish();
  }

  private receive(message: AgentMessage__Output): void {
    if (this.finished) return;
    if (!this.lease) {
      if (message.body !== 'hello' || !message.hello) {
        this.cut(status.INVALID_ARGUMENT, 'the first message on Connect must be a hello');
        return;
      }
      clearTimeout(this.helloTimer);
      this.acceptsChanges = message.hello.acceptsChanges === true;
      const agentVersion = keptVersion(message.hello.agentVersion);
      this.lease = this.context.sessions.open({
        site: this.site,
        siteUid: this.siteUid,
        agentVersion,
        certificateExpiry: this.peerCertificateExpiry(),
        assignments: this.kept(statusesFromMessage(message.hello.status)),
      });
      this.context.log.info('site agent connected', { site: this.site, agentVersion: printable(agentVersion, 64) });
      this.context.onOpen(this);
      this.push();
      return;
    }
    if (message.body === 'status') this.lease.report(this.kept(statusesFromMessage(message.status)));
    else if (message.body === 'hello') this.lease.report(this.kept(statusesFromMessage(message.hello?.status)));
    else this.lease.seen();
  }

  private kept(statuses: AssignmentStatus[]): AssignmentStatus[] {
    return keptReports(statuses, this.context.assignments.reportable(this.site));
  }

  private peerCertificateExpiry(): Date {
    const raw = this.call.getAuthContext()?.sslPeerCertificate?.raw;
    return raw ? new Date(new X509Certificate(raw).validTo) : new Date(0);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.helloTimer);
    clearTimeout(this.pushTimer);
    if (this.lease) {
      const current = this.lease.current;
      this.lease.close();
      if (current) this.context.log.info('site agent disconnected', { site: this.site });
    }
    this.context.onClose(this);
  }
}
