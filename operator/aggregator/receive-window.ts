import type { Http2Server, Http2Session, SecureServerOptions } from 'node:http2';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from '../log.js';

const MAX_WINDOW_BYTES = 4 << 20;
const MIN_WINDOW_BYTES = 64 << 10;
/**
 * What all sites' windows may hold together, should the aggregator fall behind every upload at once:
 * unread upload data is memory the aggregator holds, so this is what keeps it flat in the number of
 * sites (at the former 256 MiB, a CPU-bound aggregator could hold 16 MiB per site: 160 MB at 10).
 */
const RECEIVE_BUDGET_BYTES = 32 << 20;

/**
 * The HTTP/2 window per site: 4 MiB (full speed on loopback, about 200 MB/s per site at 20 ms RTT)
 * for a few sites, shrinking as sites are added so that the data HTTP/2 may buffer for uploads the
 * aggregator has not read yet stays within a fixed budget, whatever the number of sites. The sites
 * together can then always move budget/RTT (about 1.6 GB/s at 20 ms), far beyond one aggregator's
 * link; one site of 100 gets 330 KiB, ~16 MB/s at 20 ms.
 */
export function receiveWindowFor(sites: number): number {
  return Math.max(MIN_WINDOW_BYTES, Math.min(MAX_WINDOW_BYTES, Math.floor(RECEIVE_BUDGET_BYTES / Math.max(1, sites))));
}

/** The two grpc-js 1.14 Server internals this reaches for (build/src/server.js). */
interface ServerInternals {
  commonServerOptions?: SecureServerOptions;
  createHttp2Server?: (credentials: unknown) => Http2Server;
}

/**
 * Raises the HTTP/2 receive window of a grpc-js server, which grpc-js offers no option for: its
 * server receives with Node's default 64 KiB window, which halves upload throughput on loopback and
 * caps it at window/RTT on a real network (about 3 MB/s per site at 20 ms). The upstream fix is
 * grpc-node PR #3058; until it lands this reaches into two internals of grpc-js's Server:
 *   - commonServerOptions, which it spreads into http2.createSecureServer(): settings.initialWindowSize
 *     raises every stream's window (SETTINGS_INITIAL_WINDOW_SIZE);
 *   - createHttp2Server(), wrapped on this instance so that each new session also raises its
 *     connection-level window (session.setLocalWindowSize), which no setting covers.
 * Call it before bindAsync. If a grpc-js upgrade removed either internal, it logs a warning and
 * changes nothing: the server is then correct, only slower. Returns whether the window was raised.
 */
export function raiseReceiveWindow(server: Server, bytes: number, log: Logger): boolean {
  const internals = server as unknown as ServerInternals;
  const options = internals.commonServerOptions;
  const create = internals.createHttp2Server;
  if (typeof options !== 'object' || options === null || typeof create !== 'function') {
    log.warn('grpc-js internals for the HTTP/2 receive window are gone (grpc-js upgraded?): uploads use the 64 KiB default window', {
      wanted: bytes,
    });
    return false;
  }
  options.settings = { ...options.settings, initialWindowSize: bytes };
  internals.createHttp2Server = (credentials: unknown): Http2Server => {
    const http2Server = create.call(server, credentials);
    http2Server.on('session', (session: Http2Session) => {
      try {
        session.setLocalWindowSize(bytes);
      } catch (err) {
        log.warn('could not raise an HTTP/2 session window', { error: (err as Error).message });
      }
    });
    return http2Server;
  };
  return true;
}
