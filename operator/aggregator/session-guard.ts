import type { Http2Server, Http2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from '../log.js';
import { identityOfPeer } from '../pki/identity.js';
import type { JobSettings } from './job-settings.js';

/** HTTP/2 sessions one site may hold at once; a client needs one, a reconnecting one two. */
export const SESSIONS_PER_SITE = 4;
/** Sessions of certificates that are no listed site of this job, at once, each closed after GRACE_MS. */
const OTHER_SESSIONS = 16;
/** Long enough for such a peer's first call to hear why it is refused. */
const GRACE_MS = 1_000;

/** The grpc-js 1.14 Server internal this reaches for (build/src/server.js), as receive-window.ts does. */
interface ServerInternals {
  createHttp2Server?: (credentials: unknown) => Http2Server;
}

/**
 * The job's listed site a TLS connection's certificate names, or null for any other certificate (a
 * CA, another job's, a site the job does not list): what the connection bounds count by. The
 * handlers' own check (server.ts) says why such a caller is refused.
 */
export function listedSiteOf(socket: TLSSocket, settings: JobSettings, sites: ReadonlySet<string>): string | null {
  try {
    const certificate = socket.getPeerCertificate?.();
    if (!certificate || certificate.ca) return null;
    const identity = identityOfPeer(certificate);
    const ours = identity.role === 'client' && identity.namespace === settings.namespace && identity.job === settings.job;
    return ours && sites.has(identity.site) ? identity.site : null;
  } catch {
    return null;
  }
}

/**
 * Bounds the HTTP/2 sessions (connections) peers hold at the aggregator, which grpc-js leaves
 * unbounded: a site keeps at most SESSIONS_PER_SITE (a new one beyond that closes its oldest), a
 * certificate that is not one of this job's listed sites keeps its session just long enough to be
 * told so, and all of these together are capped. Sessions without calls are closed by grpc-js
 * itself (grpc.max_connection_idle_ms, set in run.ts). Call before bindAsync; returns whether the
 * grpc-js internal was there (if a grpc-js upgrade removed it, sessions are unbounded: logged).
 */
export function guardSessions(server: Server, settings: JobSettings, log: Logger): boolean {
  const internals = server as unknown as ServerInternals;
  const create = internals.createHttp2Server;
  if (typeof create !== 'function') {
    log.warn('grpc-js internals for HTTP/2 sessions are gone (grpc-js upgraded?): sessions per site are not bounded');
    return false;
  }
  const sites = new Set(settings.sites);
  const bySite = new Map<string, Http2Session[]>();
  const others = new Set<Http2Session>();

  const siteOf = (session: Http2Session): string | null => listedSiteOf(session.socket as TLSSocket, settings, sites);

  const admit = (session: Http2Session): void => {
    const site = siteOf(session);
    if (site === null) {
      if (others.size >= OTHER_SESSIONS) {
        session.destroy();
        return;
      }
      others.add(session);
      session.once('close', () => others.delete(session));
      const timer = setTimeout(() => session.destroy(), GRACE_MS);
      timer.unref();
      session.once('close', () => clearTimeout(timer));
      return;
    }
    const held = bySite.get(site) ?? [];
    bySite.set(site, held);
    held.push(session);
    session.once('close', () => {
      const at = held.indexOf(session);
      if (at >= 0) held.splice(at, 1);
    });
    // The oldest goes: an honest client that reconnects after a cut link must get in.
    while (held.length > SESSIONS_PER_SITE) {
      const oldest = held.shift()!;
      log.warn('closing a site’s oldest connection: too many at once', { site, limit: SESSIONS_PER_SITE });
      oldest.destroy();
    }
  };

  internals.createHttp2Server = (credentials: unknown): Http2Server => {
    const http2Server = create.call(server, credentials);
    http2Server.on('session', admit);
    return http2Server;
  };
  return true;
}
