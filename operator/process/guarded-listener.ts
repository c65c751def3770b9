/**
 * A gRPC server's listening socket, owned here rather than by grpc-js, so that TCP connections still
 * in their TLS handshake are bounded: Node keeps each for 120 s and counts none, so a peer that opens
 * connections and never sends a ClientHello (or stalls mid-handshake) could hold them by the
 * thousand. Here each has HANDSHAKE_BOUNDS.deadlineMs to finish, and at most `pending` are in their
 * handshake at once, `perAddress` of them from one remote address; a new one beyond either bound
 * closes the oldest of those it counts against, so a flood delays an honest handshake (milliseconds)
 * by nothing. Accepted sockets go to grpc-js through its connection injector (grpc-js >= 1.10).
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Http2SecureServer } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Server, ServerCredentials } from '@grpc/grpc-js';
import type { HostPort } from './address.js';

export interface HandshakeBounds {
  /** Connections in their TLS handshake at once, from anyone. */
  pending: number;
  /** Of those, from one remote address. */
  perAddress: number;
  /** How long a connection may take to finish its handshake. */
  deadlineMs: number;
}

export const HANDSHAKE_BOUNDS: HandshakeBounds = { pending: 256, perAddress: 64, deadlineMs: 10_000 };

/** The listen backlog: connections the kernel queues before they are accepted (and counted). */
const BACKLOG = 4096;

export interface GuardedListener {
  port: number;
  /** Connections now in their TLS handshake. */
  pending(): number;
  /** Stops accepting and drops connections still in their handshake; the gRPC server's own shutdown closes its sessions. */
  close(): void;
}

/** The grpc-js 1.14 Server internal this reaches for (build/src/server.js), as the aggregator's guards do. */
interface ServerInternals {
  createHttp2Server?: (credentials: unknown) => Http2SecureServer;
}

/** Connections in their handshake, oldest first (a Map keeps insertion order). */
class PendingHandshakes {
  private readonly all = new Map<string, { socket: Socket; address: string; timer: NodeJS.Timeout }>();
  private readonly byAddress = new Map<string, string[]>();

  constructor(private readonly bounds: HandshakeBounds) {}

  get size(): number {
    return this.all.size;
  }

  admit(socket: Socket): void {
    const key = keyOf(socket);
    const address = socket.remoteAddress ?? '';
    const ofAddress = this.byAddress.get(address) ?? [];
    while (ofAddress.length >= this.bounds.perAddress) this.drop(ofAddress[0]!);
    while (this.all.size >= this.bounds.pending) this.drop(this.all.keys().next().value!);
    const timer = setTimeout(() => this.drop(key), this.bounds.deadlineMs);
    timer.unref();
    this.all.set(key, { socket, address, timer });
    ofAddress.push(key);
    this.byAddress.set(address, ofAddress);
    socket.once('close', () => this.done(key));
  }

  /** The handshake finished (or the connection is gone): it no longer counts. */
  done(key: string): void {
    const entry = this.all.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.all.delete(key);
    const ofAddress = this.byAddress.get(entry.address)!;
    ofAddress.splice(ofAddress.indexOf(key), 1);
    if (ofAddress.length === 0) this.byAddress.delete(entry.address);
  }

  dropAll(): void {
    for (const key of [...this.all.keys()]) this.drop(key);
  }

  private drop(key: string): void {
    const socket = this.all.get(key)?.socket;
    this.done(key);
    socket?.destroy();
  }
}

/** A TLS socket has the peer address and port of the TCP socket it wraps. */
const keyOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) => `${s.remoteAddress}:${s.remotePort}`;

/**
 * Serves `server` on `address` (port 0: any free port) with TLS `credentials`, bounding connections
 * in their handshake. Throws if grpc-js lacks what this needs (an upgrade that removed it), rather
 * than serving unbounded.
 */
export async function listenGuarded(
  server: Server,
  credentials: ServerCredentials,
  address: HostPort,
  bounds: HandshakeBounds = HANDSHAKE_BOUNDS,
): Promise<GuardedListener> {
  const internals = server as unknown as ServerInternals;
  const create = internals.createHttp2Server;
  if (typeof create !== 'function' || typeof server.createConnectionInjector !== 'function') {
    throw new Error('grpc-js no longer has the connection injector and createHttp2Server this listener needs (grpc-js upgraded?)');
  }
  const pending = new PendingHandshakes(bounds);
  // Wrapped on this instance only: the injector's HTTP/2 server tells when a handshake is done.
  internals.createHttp2Server = (creds: unknown): Http2SecureServer => {
    const http2Server = create.call(server, creds);
    http2Server.on('secureConnection', (tls: TLSSocket) => pending.done(keyOf(tls)));
    return http2Server;
  };
  const injector = server.createConnectionInjector(credentials);
  const listener: NetServer = createServer({ noDelay: true }, (socket) => {
    // Only an honest peer's connection lives past its handshake; errors are the peer's to have.
    socket.on('error', () => undefined);
    pending.admit(socket);
    if (!socket.destroyed) injector.injectConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ host: address.host || undefined, port: address.port, backlog: BACKLOG }, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const bound = listener.address();
  return {
    port: typeof bound === 'object' && bound ? bound.port : address.port,
    pending: () => pending.size,
    close: () => {
      listener.close();
      pending.dropAll();
    },
  };
}
