/**
 * The agent's one outbound connection to the hub: a Connect stream held open, re-dialled with
 * exponential backoff and jitter when it drops (the client pods keep running meanwhile), and the
 * agent's certificate renewed at 2/3 of its life. A renewal opens a new stream with the new
 * certificate and drops the old one only once the new one has heard from the hub. A refusal that
 * says the site is revoked ends it all: no more dialling, no more renewals.
 */
import { credentials, status, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { Backoff } from '../process/backoff.js';
import { faultPoint } from '../process/fault-points.js';
import type { Logger } from '../log.js';
import type { Assignment, AssignmentStatus, JobRef } from '../sitelink/assignment.js';
import { assignmentFromMessage, statusToMessage } from '../sitelink/convert.js';
import { SiteGateway, type AgentMessage, type HubMessage__Output, type SignedCertificate__Output, type SiteGatewayClient } from '../sitelink/proto.js';
import { createCsr } from '../pki/csr.js';
import { isRevocation } from '../sitelink/revocation.js';
import { generateKeyPair } from '../pki/keys.js';
import { expectServer } from '../pki/peer-check.js';
import { checkIdentity, saveIdentity, validityOf, type AgentIdentity } from './agent-identity.js';

export interface HubLinkOptions {
  identity: AgentIdentity;
  stateDir: string;
  agentVersion: string;
  /** A complete assignment set from the hub: the first on each stream, or every one (an older hub). */
  onAssignments(assignments: Assignment[]): void;
  /** What changed in the set since the hub's last message on the same stream. */
  onAssignmentChanges(changed: Assignment[], withdrawn: JobRef[]): void;
  /** What the agent runs now: sent in each hello. */
  currentStatus(): AssignmentStatus[];
  /** The hub revoked the site (its words); the link has stopped for good. */
  onRevoked(reason: string): void;
  log: Logger;
  backoff?: { baseMs: number; maxMs: number };
  keepalive?: { timeMs: number; timeoutMs: number };
}

interface Stream {
  call: ClientDuplexStream<AgentMessage, HubMessage__Output>;
  client: SiteGatewayClient;
  /** The hub has answered on it. */
  heard: boolean;
}

const RENEW_AT_FRACTION = 2 / 3;
const RENEW_RETRY_MS = 60_000;
/** Unary calls in flight on a replaced channel get this long to finish before it closes. */
const CLOSE_GRACE_MS = 30_000;

export class HubLink {
  private identity: AgentIdentity;
  private client: SiteGatewayClient;
  private active: Stream | undefined;
  private generation = 0;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: HubLinkOptions) {
    this.identity = options.identity;
    this.client = this.dial(this.identity);
    this.backoff = new Backoff(options.backoff?.baseMs ?? 1_000, options.backoff?.maxMs ?? 60_000);
  }

  get site(): string {
    return this.identity.site;
  }

  /** Whether a stream is open and the hub has answered on it. */
  get linked(): boolean {
    return this.active?.heard === true;
  }

  /** When the agent's current certificate expires. */
  get certificateNotAfter(): Date {
    return validityOf(this.identity).notAfter;
  }

  start(): void {
    this.connect();
    this.scheduleRenewal();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.renewTimer);
    this.active?.call.cancel();
    this.active = undefined;
    this.client.close();
  }

  /** Sends the agent's full status on the open stream; a closed stream sends it in its next hello. */
  report(statuses: AssignmentStatus[]): void {
    if (!this.active) return;
    this.active.call.write({ status: { assignments: statuses.map(statusToMessage) } });
    void faultPoint('agent status reported');
  }

  /** Has the hub sign a client pod's CSR for a job assigned to this site. */
  signClientCertificate(namespace: string, job: string, csrPem: string): Promise<SignedCertificate__Output> {
    return new Promise((resolve, reject) =>
      this.client.signClientCertificate({ namespace, job, csrPem }, { deadline: Date.now() + 30_000 }, (err, res) =>
        err ? reject(new Error(`the hub did not sign the client certificate of ${namespace}/${job}: ${err.details}`, { cause: err })) : resolve(res!),
      ),
    );
  }

  private dial(identity: AgentIdentity): SiteGatewayClient {
    const { timeMs = 30_000, timeoutMs = 10_000 } = this.options.keepalive ?? {};
    return new SiteGateway(
      identity.hub,
      // The hub is spiffe://flotilla.dev/hub, signed by the site CA pinned at enrolment, and nothing else.
      credentials.createSsl(Buffer.from(identity.caPem), Buffer.from(identity.keyPem), Buffer.from(identity.certificatePem), {
        checkServerIdentity: expectServer({ role: 'hub' }, identity.caPem, 'the site CA'),
      }),
      { 'grpc.keepalive_time_ms': timeMs, 'grpc.keepalive_timeout_ms': timeoutMs, 'grpc.keepalive_permit_without_calls': 1 },
    );
  }

  /** Opens a new stream; the one it replaces (if any) is cancelled once the new one is known good. */
  private connect(): void {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    const { log } = this.options;
    const generation = ++this.generation;
    const previous = this.active;
    const stream: Stream = { call: this.client.connect(), client: this.client, heard: false };
    this.active = stream;
    const retire = () => {
      if (!previous) return;
      previous.call.cancel();
      if (previous.client !== this.client) setTimeout(() => previous.client.close(), CLOSE_GRACE_MS).unref();
    };
    stream.call.on('data', (message: HubMessage__Output) => {
      if (generation !== this.generation) return;
      if (!stream.heard) {
        stream.heard = true;
        this.backoff.reset();
        retire();
        log.info('connected to the hub', { site: this.site, hub: this.identity.hub });
      }
      if (message.assignments) this.options.onAssignments(message.assignments.assignments.map(assignmentFromMessage));
      else if (message.changes) {
        const withdrawn = message.changes.withdrawn.map(({ namespace, job }) => ({ namespace, job }));
        this.options.onAssignmentChanges(message.changes.changed.map(assignmentFromMessage), withdrawn);
      }
    });
    // Every end arrives as a status; 'error' repeats it for non-OK ones.
    stream.call.on('error', () => undefined);
    stream.call.on('status', (end: StatusObject) => {
      if (generation !== this.generation || this.stopped) return;
      retire();
      this.active = undefined;
      if (isRevocation(end)) return this.revoked(end.details);
      const wait = this.backoff.next();
      const refused = end.code === status.PERMISSION_DENIED || end.code === status.UNAUTHENTICATED;
      log[refused ? 'error' : 'warn']('the hub stream ended; reconnecting', {
        site: this.site,
        code: status[end.code],
        reason: end.details,
        retryInMs: Math.round(wait),
      });
      this.reconnectTimer = setTimeout(() => this.connect(), wait);
    });
    stream.call.write({
      hello: {
        agentVersion: this.options.agentVersion,
        status: { assignments: this.options.currentStatus().map(statusToMessage) },
        acceptsChanges: true,
      },
    });
    // An announcement to the hub: a restarted agent makes it even when it has nothing to write.
    void faultPoint('agent hello sent');
  }

  private revoked(reason: string): void {
    this.stop();
    this.options.onRevoked(reason);
  }

  private scheduleRenewal(delayMs?: number): void {
    if (this.stopped) return;
    const { receivedAt, notAfter } = validityOf(this.identity);
    const due = receivedAt.getTime() + (notAfter.getTime() - receivedAt.getTime()) * RENEW_AT_FRACTION;
    const wait = Math.min(delayMs ?? Math.max(due - Date.now(), 0), 2 ** 31 - 1);
    this.renewTimer = setTimeout(() => void this.renewIfDue(due), wait);
    this.renewTimer.unref();
  }

  private async renewIfDue(due: number): Promise<void> {
    if (Date.now() < due) return this.scheduleRenewal();
    const { log } = this.options;
    try {
      const key = await generateKeyPair();
      const csrPem = await createCsr({ role: 'site-agent', site: this.site }, key);
      const signed = await new Promise<SignedCertificate__Output>((resolve, reject) =>
        this.client.renewCertificate({ csrPem }, { deadline: Date.now() + 30_000 }, (err: ServiceError | null, res) =>
          err ? reject(new Error(err.details, { cause: err })) : resolve(res!),
        ),
      );
      const renewed = checkIdentity(
        {
          ...this.identity,
          keyPem: key.privateKeyPem,
          certificatePem: signed.certificatePem,
          // The pinned site CA stays: a renewal never changes whom the agent trusts.
          caPem: this.identity.caPem,
          receivedAt: new Date().toISOString(),
        },
        'the renewed certificate',
      );
      await saveIdentity(this.options.stateDir, renewed);
      const replaced = this.client;
      this.identity = renewed;
      this.client = this.dial(renewed);
      log.info('renewed the agent certificate', { site: this.site, notAfter: validityOf(renewed).notAfter.toISOString() });
      // With a stream open, the new one takes over and retires it (and its channel); without, the
      // next reconnect dials with the new certificate.
      if (this.active) this.connect();
      else replaced.close();
      this.scheduleRenewal();
    } catch (err) {
      if ((err as Error).cause && isRevocation((err as Error).cause as ServiceError)) return this.revoked((err as Error).message);
      const left = validityOf(this.identity).notAfter.getTime() - Date.now();
      log.error('could not renew the agent certificate; will retry', { site: this.site, error: (err as Error).message, expiresInMs: left });
      this.scheduleRenewal(Math.max(1_000, Math.min(RENEW_RETRY_MS, left / 10)));
    }
  }
}
