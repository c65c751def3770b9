import { status, type ServerReadableStream, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { Readable } from 'node:stream';
import { PROTOCOL_VERSION, type FederationHandlers, type ModelMessage } from '../federation/proto.js';
import type { FetchModelRequest__Output } from '../federation/generated/flotilla/federation/v1/FetchModelRequest.js';
import type { SubmitUpdateResponse } from '../federation/generated/flotilla/federation/v1/SubmitUpdateResponse.js';
import { modelMessages } from '../federation/tensor-stream.js';
import { BULK_PROTOCOL } from '../federation/bulk-frames.js';
import { identityOfPeer, IdentityError, siteUidOfPeer, type Identity } from '../pki/identity.js';
import { identityIssuedBy } from '../pki/peer-check.js';
import type { Logger } from '../log.js';
import type { Aggregator } from './aggregator.js';
import type { JobSettings } from './job-settings.js';
import type { AggregatorMetrics } from './metrics.js';
import type { SiteRevocations } from './revocations.js';
import { Refusal } from './refusal.js';
import { SendWindow } from './send-window.js';
import { bounded, MAX_MESSAGE, MAX_PEER_STRING } from './peer-text.js';

/**
 * Encoded chunks a download may hold in memory at once: two keep the socket busy while the next is
 * encoded, and bound the aggregator's download buffers to 2 chunks per site (grpc-js's own limit, a
 * 16-message stream buffer, would let each site hold 16).
 */
const CHUNKS_IN_FLIGHT = 2;
/** Downloads one site may have open at once: a client needs one; a retry may overlap a dying one. */
const DOWNLOADS_PER_SITE = 2;

interface Peer {
  getAuthContext(): { sslPeerCertificate?: Parameters<typeof identityOfPeer>[0] };
}

/** Whom the aggregator trusts: its job's CA, and the hub's word on revoked sites. */
export interface FederationTrust {
  /** The job's anchor: a caller's certificate must have been signed by that CA itself. */
  anchorPem: string;
  /** When given, a caller's certificate must name its Site's uid, and revoked ones are refused. */
  revocations?: SiteRevocations;
}

/**
 * The Federation service's handlers. Every call first proves who is calling from its certificate:
 * a client of this job, in this namespace, for a site the job lists, issued by the job's CA, of a
 * Site not revoked. Every refusal reaches the caller as a status code with a message a person can
 * act on, and is logged and counted; none changes the round. A site revoked while a call of its is
 * in flight has that call ended with the refusal.
 */
export function federationHandlers(
  aggregator: Aggregator,
  settings: JobSettings,
  metrics: AggregatorMetrics,
  log: Logger,
  trust?: FederationTrust,
  /** Whether the port also takes bulk connections (bulk-server.ts): Join tells the clients. */
  bulkOffered: () => boolean = () => false,
): FederationHandlers {
  const sites = new Set(settings.sites);
  /** Downloads each site has open: each holds up to CHUNKS_IN_FLIGHT chunks while its reader lags. */
  const downloads = new Map<string, number>();
  /** How to end each call in flight, by the caller's Site uid. */
  const inFlight = new Map<string, Set<(refusal: Refusal) => void>>();
  trust?.revocations?.onRevoked((uids) => {
    for (const uid of uids) for (const end of inFlight.get(uid) ?? []) end(revokedRefusal(uid));
  });
  const revokedRefusal = (uid: string) =>
    new Refusal('revoked', `site ${trust?.revocations?.revokedSite(uid)?.name ?? '?'} (uid ${uid}) is revoked at the hub: its certificates are refused`);
  /** Registers how to end a call if its site is revoked; returns the deregistration. */
  const track = (uid: string | undefined, end: (refusal: Refusal) => void): (() => void) => {
    if (!uid) return () => undefined;
    let set = inFlight.get(uid);
    if (!set) inFlight.set(uid, (set = new Set()));
    set.add(end);
    return () => {
      set.delete(end);
      if (set.size === 0) inFlight.delete(uid);
    };
  };

  const identify = (call: Peer): { site: string; uid: string | undefined } => {
    const cert = call.getAuthContext().sslPeerCertificate;
    // A certificate authority can mint sites; the handshake alone does not tell it from a leaf.
    if (cert && 'ca' in cert && cert.ca) {
      throw new Refusal('identity', "the certificate is a CA certificate (CA:TRUE): a site's client presents a leaf certificate issued to it");
    }
    let identity: Identity;
    let uid: string | undefined;
    try {
      identity = trust ? identityIssuedBy(cert, trust.anchorPem, "this job's CA") : identityOfPeer(cert);
      uid = siteUidOfPeer(cert);
    } catch (err) {
      if (err instanceof IdentityError) throw new Refusal('unauthenticated', `${err.message}: present a certificate issued to this job's site`);
      throw err;
    }
    if (identity.role !== 'client' || identity.namespace !== settings.namespace || identity.job !== settings.job) {
      const who = identity.role === 'client' ? `a client of job ${identity.namespace}/${identity.job}` : `a ${identity.role}`;
      throw new Refusal('identity', `the certificate is for ${who}; this aggregator serves job ${settings.namespace}/${settings.job}`);
    }
    if (!sites.has(identity.site)) throw new Refusal('identity', `site ${identity.site} is not one of job ${settings.job}'s sites (spec.sites.names)`);
    if (trust?.revocations) {
      if (!uid) throw new Refusal('identity', `the certificate of site ${identity.site} names no Site uid: the hub issues every client certificate with one`);
      if (trust.revocations.revokedSite(uid)) throw revokedRefusal(uid);
    }
    return { site: identity.site, uid };
  };

  /** The status a refused call ends with; unexpected errors become INTERNAL, logged in full. */
  const refuse = (err: unknown, method: string, site: string | undefined): { code: status; details: string } => {
    const { phase, round, attempt } = aggregator.position;
    if (err instanceof Refusal) {
      const details = bounded(err.message);
      metrics.updatesRefused.inc({ site: site ?? '', reason: err.reason });
      log.warn(`refused ${method}: ${details}`, { site, method, reason: err.reason, code: status[err.code], phase, round, attempt });
      return { code: err.code, details };
    }
    log.error(`${method} failed`, { site, method, error: bounded((err as Error).stack ?? String(err), 4 * MAX_MESSAGE), phase, round });
    return { code: status.INTERNAL, details: bounded(`the aggregator failed: ${(err as Error).message}`) };
  };

  function unary<Req, Res>(method: string, answer: (site: string, request: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      let site: string | undefined;
      let untrack = () => undefined as void;
      Promise.resolve()
        .then(() => {
          const caller = identify(call);
          site = caller.site;
          return new Promise<Res>((resolve, reject) => {
            untrack = track(caller.uid, reject);
            Promise.resolve(answer(caller.site, call.request, call)).then(resolve, reject);
          });
        })
        .finally(() => untrack())
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(refuse(err, method, site)),
        );
    };
  }

  /** A client-streamed update (SubmitUpdate, SubmitMasked): refused and taken back if its site is revoked while it arrives. */
  function upload<M>(method: string, take: (site: string, messages: AsyncIterable<M>) => Promise<SubmitUpdateResponse & { round: number; bytesReceived: number }>) {
    return (call: ServerReadableStream<M, SubmitUpdateResponse>, callback: sendUnaryData<SubmitUpdateResponse>): void => {
      let site: string | undefined;
      let untrack = () => undefined as void;
      (async () => {
        const caller = identify(call);
        site = caller.site;
        // The update stream ends with the refusal: the update is refused and taken back.
        untrack = track(caller.uid, (refusal) => call.destroy(refusal));
        const messages = idleLimited<M>(call, settings.heartbeatTimeoutMs, site);
        const received = await take(site, messages);
        log.info('update accepted', { site, round: received.round, bytes: received.bytesReceived, method, transport: transportOf(call) });
        return received;
      })()
        .finally(() => untrack())
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(refuse(call.cancelled && !(err instanceof Refusal) ? new Refusal('cut_short', 'the client cancelled the update stream') : err, method, site)),
        );
    };
  }

  return {
    Join: unary('Join', (site, request) => {
      if (request.protocolVersion !== PROTOCOL_VERSION) {
        throw new Refusal('protocol', `the client speaks protocol ${request.protocolVersion}, this aggregator ${PROTOCOL_VERSION}: run matching versions`);
      }
      aggregator.seen(site);
      log.info('site joined', { site, clientVersion: bounded(request.clientVersion, MAX_PEER_STRING) });
      return {
        protocolVersion: PROTOCOL_VERSION,
        job: settings.job,
        site,
        rounds: settings.rounds,
        // Three heartbeats per timeout: one lost heartbeat never drops a site.
        heartbeatIntervalMs: Math.floor(settings.heartbeatTimeoutMs / 3),
        bulkProtocol: bulkOffered() ? BULK_PROTOCOL : '',
      };
    }),

    NextTask: unary('NextTask', (site, request, call) => aggregator.nextTask(site, request.waitMs, () => call.cancelled)),

    Heartbeat: unary('Heartbeat', (site, request) => ({ roundOpen: aggregator.heartbeat(site, request.round) })),

    FetchModel(call: ServerWritableStream<FetchModelRequest__Output, ModelMessage>) {
      let site: string | undefined;
      let counted = false;
      let revoked: Refusal | undefined;
      let untrack = () => undefined as void;
      (async () => {
        const caller = identify(call);
        site = caller.site;
        const open = downloads.get(site) ?? 0;
        if (open >= DOWNLOADS_PER_SITE) {
          throw new Refusal('busy', `site ${site} has ${open} downloads of the model open already; read or cancel those first`);
        }
        downloads.set(site, open + 1);
        counted = true;
        untrack = track(caller.uid, (refusal) => (revoked = refusal));
        const round = call.request.round;
        const { model, version, encoding } = aggregator.modelFor(site, round);
        // Chunks are views onto the global model, which changes in place only when its round closes.
        // A site still downloading then gets an error status (below) or, for chunks already queued,
        // mixed data: harmless, as any update built on that round's model is refused by then.
        const sending = new SendWindow(call, CHUNKS_IN_FLIGHT);
        for (const message of modelMessages(model, undefined, encoding)) {
          if (call.cancelled) return;
          if (revoked) throw revoked;
          if (!aggregator.isCurrent(version)) throw new Refusal('stale_round', `round ${round} closed while its model was being sent; ask NextTask for work`);
          if (message.chunk) {
            metrics.bytesSent.inc({ site }, message.chunk.data.byteLength);
            aggregator.traffic.sent(message.chunk.data.byteLength);
          }
          await sending.write(message);
        }
        aggregator.traffic.downloaded();
        call.end();
      })()
        .catch((err: unknown) => call.emit('error', refuse(err, 'FetchModel', site)))
        .finally(() => {
          untrack();
          if (counted) downloads.set(site!, downloads.get(site!)! - 1);
        });
    },

    SubmitUpdate: upload('SubmitUpdate', (site, messages) => aggregator.submit(site, messages)),

    SecAgg: unary('SecAgg', (site, request, call) => aggregator.secAgg(site, request, () => call.cancelled)),

    SubmitMasked: upload('SubmitMasked', (site, messages) => aggregator.submitMasked(site, messages)),
  };
}

/** Which transport brought a call: the bulk transport's calls say so (bulk-server.ts), grpc-js's do not. */
function transportOf(call: object): 'bulk' | 'grpc' {
  return (call as { transport?: unknown }).transport === 'bulk' ? 'bulk' : 'grpc';
}

/**
 * The messages of an update stream, ended with a Refusal when none came for idleMs: a stalled
 * upload must not hold its site's place in the round for ever. This also ends a stream grpc-js
 * refused by itself (a message over grpc.max_receive_message_length gets RESOURCE_EXHAUSTED from
 * grpc-js, which then never ends the handler's stream): that site's slot is held until then.
 */
async function* idleLimited<M>(call: Readable & AsyncIterable<M>, idleMs: number, site: string): AsyncGenerator<M> {
  const timer = setTimeout(() => call.destroy(new Refusal('cut_short', `no data from site ${site} for ${idleMs / 1000}s: the update is dropped`)), idleMs);
  timer.unref();
  try {
    for await (const message of call) {
      timer.refresh();
      yield message;
    }
  } finally {
    clearTimeout(timer);
  }
}
