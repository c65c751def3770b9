/**
 * The aggregator's end of the bulk transport (../federation/bulk-frames.ts). A TLS connection to the
 * gRPC port that negotiated BULK_PROTOCOL, not h2, is taken from grpc-js's HTTP/2 server once its
 * handshake is done (the same certificate, the same client-certificate check), and its one call is
 * handed to the same handlers gRPC calls go to (server.ts), as an object with the parts of a grpc-js
 * call those use: identity, revocation, every refusal, metrics and the intake are one code path
 * whichever transport brought the bytes.
 */
import { Readable, Writable } from 'node:stream';
import type { Http2SecureServer } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { status, type Server, type ServerReadableStream, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { Federation, maxMessageBytes, type FederationHandlers, type ModelMessage__Output, type UpdateMessage__Output } from '../federation/proto.js';
import { chunkMessagePrefix } from '../federation/chunk-codec.js';
import { BULK_METHODS, BULK_PROTOCOL, FRAME, FrameError, FrameReader, statusPayload, writeFrame, type Frame } from '../federation/bulk-frames.js';
import type { FetchModelRequest__Output } from '../federation/generated/flotilla/federation/v1/FetchModelRequest.js';
import type { SubmitUpdateResponse } from '../federation/generated/flotilla/federation/v1/SubmitUpdateResponse.js';
import type { Logger } from '../log.js';
import type { AggregatorMetrics } from './metrics.js';
import type { JobSettings } from './job-settings.js';
import { Refusal, type RefusalReason } from './refusal.js';
import { bounded } from './peer-text.js';
import { listedSiteOf } from './session-guard.js';

/** Bulk connections one site may hold at once: a download and an upload, and a retry of each. */
const CONNECTIONS_PER_SITE = 4;
/** Bulk connections of certificates that name no site of this job, at once: each is told why and closed. */
const OTHER_CONNECTIONS = 16;

/** The grpc-js 1.14 Server internal this reaches for (build/src/server.js), as receive-window.ts does. */
interface ServerInternals {
  createHttp2Server?: (credentials: unknown) => Http2SecureServer;
}

const fetchModel = Federation.service.FetchModel;
const submitUpdate = Federation.service.SubmitUpdate;

/**
 * Offers BULK_PROTOCOL beside h2 on the server's TLS port and serves the connections that choose
 * it. Call before the server listens. Returns false (and logs) if grpc-js lacks the internal this
 * needs: the server then speaks gRPC only, and clients, told so at Join, use it.
 */
export function acceptBulk(server: Server, handlers: FederationHandlers, settings: JobSettings, metrics: AggregatorMetrics, log: Logger): boolean {
  const internals = server as unknown as ServerInternals;
  const create = internals.createHttp2Server;
  if (typeof create !== 'function') {
    log.warn('grpc-js internals for the bulk transport are gone (grpc-js upgraded?): models and updates travel over gRPC');
    return false;
  }
  const connections = new ConnectionCount(settings);
  internals.createHttp2Server = (credentials: unknown): Http2SecureServer => {
    const http2Server = create.call(server, credentials);
    // Node's HTTP/2 server offers h2 alone and treats whatever was negotiated as h2: offer ours
    // too, and take the connections that chose it before its own listeners (and grpc-js's) run.
    (http2Server as Http2SecureServer & { ALPNProtocols: Buffer }).ALPNProtocols = alpnList(['h2', BULK_PROTOCOL]);
    const http2Listeners = http2Server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
    http2Server.removeAllListeners('secureConnection');
    http2Server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== BULK_PROTOCOL) {
        for (const listener of http2Listeners) listener.call(http2Server, socket);
        return;
      }
      socket.on('error', () => undefined);
      void serveConnection(socket, handlers, settings, connections, metrics, log);
    });
    return http2Server;
  };
  return true;
}

/** ALPN's wire list: each protocol's length, then its name. */
function alpnList(protocols: string[]): Buffer {
  return Buffer.concat(protocols.flatMap((p) => [Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)]));
}

/** Open bulk connections by site ('' for certificates that are no site of this job), with their bounds. */
class ConnectionCount {
  private readonly open = new Map<string, number>();
  private readonly sites: Set<string>;

  constructor(private readonly settings: JobSettings) {
    this.sites = new Set(settings.sites);
  }

  /** Counts the connection in, or returns null when its site (or the others) already hold their bound. */
  admit(socket: TLSSocket): (() => void) | null {
    const key = this.keyOf(socket);
    const n = this.open.get(key) ?? 0;
    if (n >= (key === '' ? OTHER_CONNECTIONS : CONNECTIONS_PER_SITE)) return null;
    this.open.set(key, n + 1);
    return () => this.open.set(key, this.open.get(key)! - 1);
  }

  private keyOf(socket: TLSSocket): string {
    return listedSiteOf(socket, this.settings, this.sites) ?? '';
  }
}

/** What grpc-js's calls answer to getAuthContext(), from the connection's own handshake. */
function authContextOf(socket: TLSSocket): { sslPeerCertificate?: ReturnType<TLSSocket['getPeerCertificate']> } {
  if (!socket.authorized) return {};
  const certificate = socket.getPeerCertificate();
  return certificate.raw ? { sslPeerCertificate: certificate } : {};
}

/** How long a peer has to close a connection once it has its STATUS. */
const CLOSE_GRACE_MS = 5_000;

/** Sends the call's one STATUS and closes the connection. */
async function answer(socket: TLSSocket, code: number, details: string, response?: Uint8Array): Promise<void> {
  if (socket.destroyed || socket.writableEnded) return;
  await writeFrame(socket, FRAME.STATUS, ...statusPayload(code, bounded(details), response));
  socket.end();
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}

async function serveConnection(
  socket: TLSSocket,
  handlers: FederationHandlers,
  settings: JobSettings,
  connections: ConnectionCount,
  metrics: AggregatorMetrics,
  log: Logger,
): Promise<void> {
  const refuse = (reason: RefusalReason, details: string) => {
    const refusal = new Refusal(reason, details);
    metrics.updatesRefused.inc({ site: '', reason });
    log.warn(`refused a bulk connection: ${details}`, { reason, code: status[refusal.code] });
    return answer(socket, refusal.code, details);
  };
  const release = connections.admit(socket);
  if (!release) return void (await refuse('busy', `too many bulk connections open for this certificate; at most ${CONNECTIONS_PER_SITE} per site`));
  socket.once('close', release);
  const reader = new FrameReader(socket, maxMessageBytes());
  // The call must be named promptly: a connection that says nothing holds nothing for long.
  const silent = setTimeout(() => socket.destroy(), settings.heartbeatTimeoutMs);
  silent.unref();
  let call: Frame | null;
  try {
    call = await reader.next();
  } catch (err) {
    return void (await refuse(err instanceof FrameError ? err.reason === 'too_large' ? 'too_large' : 'malformed_stream' : 'cut_short', (err as Error).message));
  } finally {
    clearTimeout(silent);
  }
  if (!call) return void socket.end();
  if (call.kind !== FRAME.CALL || call.payload.byteLength < 1) return void (await refuse('malformed_stream', `the first frame of a bulk connection is a CALL, not kind ${call.kind}`));
  const method = BULK_METHODS[call.payload[0]!];
  const request = call.payload.subarray(1);
  if (method === 'FetchModel') {
    let decoded: FetchModelRequest__Output;
    try {
      decoded = fetchModel.requestDeserialize(request) as FetchModelRequest__Output;
    } catch (err) {
      return void (await refuse('malformed_stream', `the FetchModel request does not decode: ${(err as Error).message}`));
    }
    handlers.FetchModel(new BulkDownload(socket, decoded) as unknown as ServerWritableStream<FetchModelRequest__Output, ModelMessage__Output>);
  } else if (method === 'SubmitUpdate') {
    const callback: sendUnaryData<SubmitUpdateResponse> = (err, response) => {
      if (err) void answer(socket, err.code ?? status.INTERNAL, err.details ?? 'failed');
      else void answer(socket, status.OK, '', submitUpdate.responseSerialize(response!));
    };
    handlers.SubmitUpdate(new BulkUpload(socket, reader) as unknown as ServerReadableStream<UpdateMessage__Output, SubmitUpdateResponse>, callback);
  } else {
    const refusal = new Refusal('protocol', `method ${call.payload[0]} is not one a bulk connection carries (${BULK_METHODS.join(', ')})`);
    log.warn(`refused a bulk connection: ${refusal.message}`, { reason: refusal.reason });
    metrics.updatesRefused.inc({ site: '', reason: refusal.reason });
    await answer(socket, status.UNIMPLEMENTED, refusal.message);
  }
}

/**
 * A FetchModel call on a bulk connection, as the handler sees a grpc-js server stream: each message
 * written leaves as a frame (a chunk's data straight from the model's memory), end() sends the OK
 * STATUS, and the error the handler emits is the STATUS it ends with.
 */
class BulkDownload extends Writable {
  readonly transport = 'bulk';
  cancelled = false;

  constructor(
    private readonly socket: TLSSocket,
    readonly request: FetchModelRequest__Output,
  ) {
    super({ objectMode: true, highWaterMark: 2 });
    socket.once('close', () => {
      if (this.writableFinished) return;
      this.cancelled = true;
      this.emit('cancelled');
    });
    this.on('error', (err: { code?: number; details?: string; message?: string }) => void answer(socket, err.code ?? status.INTERNAL, err.details ?? err.message ?? 'failed'));
  }

  getAuthContext() {
    return authContextOf(this.socket);
  }

  override _write(message: ModelMessage__Output, _encoding: string, done: (err?: Error | null) => void): void {
    const parts = message.chunk ? [chunkMessagePrefix(message.chunk), message.chunk.data] : [fetchModel.responseSerialize(message)];
    writeFrame(this.socket, FRAME.MESSAGE, ...parts).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    answer(this.socket, status.OK, '').then(() => done(), done);
  }
}

/**
 * A SubmitUpdate call on a bulk connection, as the handler sees a grpc-js server stream: the
 * messages of its MESSAGE frames, read one at a time as the handler takes them, ended by END. A
 * frame that cannot be taken ends the stream with the refusal that says why.
 */
class BulkUpload extends Readable {
  readonly transport = 'bulk';
  cancelled = false;

  constructor(
    private readonly socket: TLSSocket,
    private readonly reader: FrameReader,
  ) {
    super({ objectMode: true, highWaterMark: 1 });
    socket.once('close', () => {
      if (this.readableEnded) return;
      this.cancelled = true;
      this.destroy(new Error('the client closed the bulk connection'));
    });
  }

  getAuthContext() {
    return authContextOf(this.socket);
  }

  override _read(): void {
    this.reader.next().then(
      (frame) => {
        if (!frame) return void this.destroy(new Refusal('cut_short', 'the bulk connection ended before the update did (no END frame)'));
        if (frame.kind === FRAME.END) return void this.push(null);
        if (frame.kind !== FRAME.MESSAGE) return void this.destroy(new Refusal('malformed_stream', `a frame of kind ${frame.kind} inside an update; MESSAGE and END are`));
        let message: UpdateMessage__Output;
        try {
          message = submitUpdate.requestDeserialize(frame.payload) as UpdateMessage__Output;
        } catch (err) {
          return void this.destroy(new Refusal('malformed_stream', `an update message does not decode: ${(err as Error).message}`));
        }
        this.push(message);
      },
      // Past the bound is too large; a connection that broke or ended inside a frame cut the update short.
      (err: Error) => this.destroy(new Refusal(err instanceof FrameError && err.reason === 'too_large' ? 'too_large' : 'cut_short', err.message)),
    );
  }
}
