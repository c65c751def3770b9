/**
 * The site gateway: two gRPC servers in the operator process.
 *  - The enrolment port: server-authenticated TLS; a join token authenticates the agent's Enroll.
 *  - The main port: mutual TLS against the site CA alone; the site is read from the peer
 *    certificate, which must name the Site's current uid. Connect streams, client certificates,
 *    renewals.
 * Revoked or deleted sites are refused on every call, and their live streams (those of an earlier
 * Site of the same name too) are cut as soon as the Site cache shows it. gRPC keepalive pings notice an agent that vanished without a word.
 * Streams that have not said hello are bounded: a few per site, each for the hello timeout, and at
 * most MAX_STREAMS_PER_CONNECTION streams of any kind on one connection.
 */
import { Server, status, type ChannelOptions } from '@grpc/grpc-js';
import { createLogger, type Logger } from '../../log.js';
import { parseAddress } from '../../process/address.js';
import { listenGuarded, type GuardedListener } from '../../process/guarded-listener.js';
import type { InformerHandler } from '../../kube/informer.js';
import { NO_HUB_AUDIT, type HubAuditLog } from '../audit.js';
import type { AssignmentSource, CacheView, Site } from '../contracts.js';
import type { JoinTokens } from '../join-tokens.js';
import type { HubPki, SiteRef } from '../pki.js';
import { SiteAdmission, toStatus } from './admission.js';
import { AgentStream, type AgentCall } from './agent-stream.js';
import { certificateHandlers, enrollmentHandlers, type CertificateServices } from './certificates.js';
import { DEFAULT_ENROLMENT_LIMITS, EnrolmentLimits, type EnrolmentLimitsOptions } from './enrolment-limits.js';
import { SiteEnrollment, SiteGateway } from '../../sitelink/proto.js';
import { RotatingServerCredentials } from './server-identity.js';
import { SiteSessionRegistry } from './sessions.js';

export interface SiteCache extends CacheView<Site> {
  onEvent(handler: InformerHandler<Site>): () => void;
}

export interface SiteGatewayOptions {
  pki: HubPki;
  joinTokens: JoinTokens;
  /** The Site informer: its cache admits callers, its events cut the streams of revoked sites. */
  sites: SiteCache;
  assignments: AssignmentSource;
  /** Where the controllers read sessions from; a new registry if not given. */
  sessions?: SiteSessionRegistry;
  /** host:port to listen on for the mutual-TLS port, e.g. "0.0.0.0:7443" (port 0: any free port). */
  mainAddress: string;
  /** host:port to listen on for the enrolment port. */
  enrollmentAddress: string;
  /** The names agents dial the gateway by: they go into its server certificate. */
  serverNames: { dnsNames: string[]; ipAddresses?: string[] };
  /** HTTP/2 pings to each agent every timeMs; no answer within timeoutMs ends its connection. */
  keepalive?: { timeMs: number; timeoutMs: number };
  /** Rate limits of the enrolment port (enrolment-limits.ts). */
  enrolmentLimits?: EnrolmentLimitsOptions;
  /** How long a new Connect stream may take to send its hello. */
  helloTimeoutMs?: number;
  /** How long stop() lets calls in flight finish. */
  shutdownGraceMs?: number;
  /** The hub's audit trail (audit.ts): every certificate handed out is recorded there first. */
  audit?: HubAuditLog;
  log?: Logger;
}

/** Connect streams of one site waiting for their hello; a further one is refused. */
export const MAX_WAITING_STREAMS_PER_SITE = 4;
/** HTTP/2 streams one agent connection may hold at once (its Connect stream and a few calls). */
export const MAX_STREAMS_PER_CONNECTION = 16;
export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;

export interface GatewayPorts {
  main: number;
  enrollment: number;
}

export class SiteGatewayServer {
  readonly sessions: SiteSessionRegistry;
  private readonly log: Logger;
  private readonly admission: SiteAdmission;
  private readonly streams = new Map<string, Set<AgentStream>>();
  private readonly servers: Server[] = [];
  private readonly listeners: GuardedListener[] = [];
  private readonly credentials: RotatingServerCredentials[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly options: SiteGatewayOptions) {
    this.sessions = options.sessions ?? new SiteSessionRegistry();
    this.log = options.log ?? createLogger('site-gateway');
    this.admission = new SiteAdmission(options.sites, options.pki.siteCa().certPem);
  }

  async start(): Promise<GatewayPorts> {
    const { pki, serverNames, keepalive = { timeMs: 30_000, timeoutMs: 10_000 } } = this.options;
    const issue = () => pki.issueGatewayCertificate(serverNames.dnsNames, serverNames.ipAddresses);
    const onError = (err: Error) => this.log.error('could not renew the gateway certificate', { error: err.message });
    const [mainCredentials, enrollmentCredentials] = await Promise.all([
      RotatingServerCredentials.start(issue, pki.siteCa().certPem, onError),
      RotatingServerCredentials.start(issue, undefined, onError),
    ]);
    this.credentials.push(mainCredentials, enrollmentCredentials);

    const serverOptions: ChannelOptions = {
      'grpc.keepalive_time_ms': keepalive.timeMs,
      'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
      'grpc.max_concurrent_streams': MAX_STREAMS_PER_CONNECTION,
    };
    const services: CertificateServices = {
      pki,
      limits: new EnrolmentLimits(this.options.enrolmentLimits ?? DEFAULT_ENROLMENT_LIMITS),
      joinTokens: this.options.joinTokens,
      admission: this.admission,
      assignments: this.options.assignments,
      onEnrolled: (site) => this.sessions.enrolled(site.name, site.uid),
      audit: this.options.audit ?? NO_HUB_AUDIT,
      log: this.log,
    };
    const main = new Server(serverOptions);
    main.addService(SiteGateway.service, { Connect: (call: AgentCall) => this.connect(call), ...certificateHandlers(services) });
    const enrollment = new Server(serverOptions);
    enrollment.addService(SiteEnrollment.service, enrollmentHandlers(services));
    this.servers.push(main, enrollment);

    this.unsubscribe.push(
      this.options.assignments.onChange((sites) => sites.forEach((site) => this.streams.get(site)?.forEach((s) => s.push()))),
      this.options.sites.onEvent((_type, site) => this.enforce(site.metadata.name)),
    );
    // Listeners of its own, so that connections still in their TLS handshake are bounded too.
    const listeners = await Promise.all([
      bind(main, this.options.mainAddress, mainCredentials),
      bind(enrollment, this.options.enrollmentAddress, enrollmentCredentials),
    ]);
    this.listeners.push(...listeners);
    const [mainPort, enrollmentPort] = listeners.map((l) => l.port) as [number, number];
    this.log.info('site gateway listening', { mainPort, enrollmentPort });
    return { main: mainPort, enrollment: enrollmentPort };
  }

  /** Cuts every stream (agents reconnect to whoever serves next) and stops both servers. */
  async stop(): Promise<void> {
    this.unsubscribe.splice(0).forEach((u) => u());
    for (const set of this.streams.values()) for (const s of [...set]) s.cut(status.UNAVAILABLE, 'the hub is shutting down');
    this.credentials.splice(0).forEach((c) => c.stop());
    this.listeners.splice(0).forEach((l) => l.close());
    const grace = this.options.shutdownGraceMs ?? 5_000;
    await Promise.all(this.servers.splice(0).map((server) => shutdown(server, grace)));
  }

  private connect(call: AgentCall): void {
    let site: SiteRef;
    try {
      site = this.admission.siteOf(call);
    } catch (err) {
      call.emit('error', toStatus(err));
      return;
    }
    const waiting = [...(this.streams.get(site.name) ?? [])].filter((s) => !s.opened).length;
    if (waiting >= MAX_WAITING_STREAMS_PER_SITE) {
      const details = `site ${site.name} already has ${waiting} connections waiting for their hello`;
      call.emit('error', { code: status.RESOURCE_EXHAUSTED, details, message: details, name: 'Error' });
      return;
    }
    const stream: AgentStream = new AgentStream(site, call, {
      assignments: this.options.assignments,
      sessions: this.sessions,
      helloTimeoutMs: this.options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
      log: this.log,
      onOpen: (opened) => {
        // One agent per site: a newer stream (a reconnect, a renewed certificate) replaces older ones.
        for (const older of this.streams.get(site.name) ?? []) {
          if (older !== opened) older.cut(status.ABORTED, 'superseded by a newer connection of the same site');
        }
      },
      onClose: (closed) => {
        const set = this.streams.get(site.name);
        set?.delete(closed);
        if (set?.size === 0) this.streams.delete(site.name);
      },
    });
    let set = this.streams.get(site.name);
    if (!set) this.streams.set(site.name, (set = new Set()));
    set.add(stream);
  }

  /** Cuts the streams of a site, or of an earlier Site of its name, that may no longer use the gateway. */
  private enforce(site: string): void {
    for (const stream of [...(this.streams.get(site) ?? [])]) {
      const refusal = this.admission.refusal({ name: site, uid: stream.siteUid });
      if (refusal) stream.cut(refusal.code, refusal.message, refusal.trailers);
    }
  }
}

async function bind(server: Server, address: string, credentials: RotatingServerCredentials): Promise<GuardedListener> {
  try {
    return await listenGuarded(server, credentials, parseAddress(address));
  } catch (err) {
    throw new Error(`cannot listen on ${address}: ${(err as Error).message}`, { cause: err });
  }
}

function shutdown(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
