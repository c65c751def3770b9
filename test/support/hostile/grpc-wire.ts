/**
 * gRPC by hand over node:http2: a hostile peer's channel. It sends whatever bytes a test writes,
 * framed as gRPC frames (flag, length, payload) or not framed at all, on streams of one HTTP/2
 * session over mutual TLS (or plaintext, or TLS without a certificate), and reports what the server
 * answered: the gRPC status and message from the trailers, and the response messages.
 *
 *   const channel = await HostileChannel.connect(address, { tlsDir });
 *   const result = await channel.call('Join', [joinRequest(1, 'x')]);   // { code, details, messages }
 *   const call = channel.open('SubmitUpdate'); call.write(frame(...)); ...; call.end(); await call.result;
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type SecureClientSessionOptions } from 'node:http2';
import { readTlsFiles } from '../../../operator/pki/files.js';

export const SERVICE = '/flotilla.federation.v1.Federation';
export type Method = 'Join' | 'NextTask' | 'FetchModel' | 'SubmitUpdate' | 'Heartbeat';

/** gRPC status codes by name, as the trailers carry them. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export const codeName = (code: number): string => Object.entries(Code).find(([, c]) => c === code)?.[0] ?? String(code);

/** One gRPC frame: the compressed flag, the payload's length (as given, or its true one), the payload. */
export function frame(payload: Uint8Array, options: { compressed?: boolean; declaredLength?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = options.compressed ? 1 : 0;
  head.writeUInt32BE(options.declaredLength ?? payload.length, 1);
  return Buffer.concat([head, payload]);
}

export interface CallResult {
  /** The gRPC status; UNAVAILABLE (14) when the connection failed before a status came (transport). */
  code: number;
  details: string;
  /** The response's messages, unframed. */
  messages: Buffer[];
  httpStatus: number | null;
  /** The connection or stream failed before any gRPC status arrived. */
  transport: boolean;
}

export interface ConnectOptions {
  /** A site's TLS folder (tls.key, tls.crt, ca.crt). */
  tlsDir?: string;
  /** TLS trusting ca.crt of tlsDir (or this PEM), with no client certificate. */
  anonymous?: { caPem: string };
  /** HTTP/2 over plain TCP. */
  plaintext?: boolean;
  /** HTTP/2 settings this side announces (initialWindowSize, maxHeaderListSize, ...). */
  settings?: SecureClientSessionOptions['settings'];
}

export class HostileChannel {
  private constructor(readonly session: ClientHttp2Session) {}

  /** Opens one HTTP/2 session; resolves once it is up (for TLS: once the client finished its handshake). */
  static async connect(address: string, options: ConnectOptions): Promise<HostileChannel> {
    let tls: SecureClientSessionOptions = {};
    if (options.tlsDir) {
      const files = await readTlsFiles(options.tlsDir);
      tls = { key: files.keyPem, cert: files.certPem, ca: files.caPem };
    } else if (options.anonymous) {
      tls = { ca: options.anonymous.caPem };
    }
    const url = `${options.plaintext ? 'http' : 'https'}://${address}`;
    // An attacker has no need to check whom it reached: the server's name is not verified.
    const session = connect(url, { ...tls, settings: options.settings, servername: options.plaintext ? undefined : 'localhost', checkServerIdentity: () => undefined });
    session.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
      session.once('close', () => reject(new Error('the session closed before it was up')));
    });
    return new HostileChannel(session);
  }

  get alive(): boolean {
    return !this.session.closed && !this.session.destroyed;
  }

  /** Opens a call of a Federation method (or any path), sends `frames` and ends, unless told not to. */
  open(method: Method | string, headers: Record<string, string> = {}): HostileCall {
    const path = method.startsWith('/') ? method : `${SERVICE}/${method}`;
    const stream = this.session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: path,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    return new HostileCall(stream);
  }

  /** A whole call: every payload framed, then the end of the stream; resolves with the server's answer. */
  call(method: Method | string, payloads: readonly Uint8Array[], options: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<CallResult> {
    const call = this.open(method, options.headers);
    for (const p of payloads) call.write(frame(p));
    call.end();
    return call.finished(options.timeoutMs);
  }

  close(): void {
    this.session.destroy();
  }
}

/** One gRPC call in flight, written to frame by frame (or byte by byte). */
export class HostileCall {
  readonly result: Promise<CallResult>;
  private readonly received: Buffer[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private httpStatus: number | null = null;

  constructor(readonly stream: ClientHttp2Stream) {
    this.result = new Promise<CallResult>((resolve) => {
      let status: { code: number; details: string } | null = null;
      const fromHeaders = (headers: Record<string, unknown>) => {
        if (headers['grpc-status'] !== undefined) {
          status = { code: Number(headers['grpc-status']), details: decodeMessage(String(headers['grpc-message'] ?? '')) };
        }
      };
      stream.on('response', (headers) => {
        this.httpStatus = Number(headers[':status']);
        fromHeaders(headers);
      });
      stream.on('trailers', fromHeaders);
      stream.on('data', (chunk: Buffer) => this.unframe(chunk));
      stream.on('error', () => {});
      stream.on('close', () => {
        const transport = status === null;
        const code = status?.code ?? Code.UNAVAILABLE;
        const details = status?.details ?? `no gRPC status (HTTP/2 stream closed with code ${stream.rstCode}${this.httpStatus ? `, HTTP ${this.httpStatus}` : ''})`;
        resolve({ code, details, messages: this.received, httpStatus: this.httpStatus, transport });
      });
    });
  }

  /** Writes raw bytes (a frame, part of one, anything); resolves when the stream may take more. */
  async write(data: Uint8Array): Promise<void> {
    if (this.stream.destroyed || this.stream.closed) return;
    if (!this.stream.write(data)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done).off('close', done);
          resolve();
        };
        this.stream.once('drain', done).once('close', done);
      });
    }
  }

  end(): void {
    if (!this.stream.destroyed) this.stream.end();
  }

  /** RST_STREAM CANCEL, as a client that gives up does. */
  cancel(): void {
    this.stream.close(constants.NGHTTP2_CANCEL);
  }

  /** Stops reading the response: HTTP/2 flow control then stops the server's sending. */
  stopReading(): void {
    this.stream.pause();
  }

  /** Whether the server has answered (a status came, or the stream is gone). */
  get answered(): boolean {
    return this.stream.closed || this.stream.destroyed;
  }

  finished(timeoutMs = 30_000): Promise<CallResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CallResult>((resolve) => {
      timer = setTimeout(() => {
        this.cancel();
        resolve({ code: Code.DEADLINE_EXCEEDED, details: `no answer within ${timeoutMs} ms`, messages: this.received, httpStatus: this.httpStatus, transport: true });
      }, timeoutMs);
    });
    return Promise.race([this.result, timeout]).finally(() => clearTimeout(timer));
  }

  private unframe(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) return;
      this.received.push(this.pending.subarray(5, 5 + length));
      this.pending = this.pending.subarray(5 + length);
    }
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Status-Message"). */
function decodeMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
