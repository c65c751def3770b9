/**
 * The bulk transport's frames: the bytes of FetchModel and SubmitUpdate on a TLS connection of
 * their own, beside gRPC on the same port (ALPN BULK_PROTOCOL instead of h2). HTTP/2 and grpc-js
 * cost about twice raw TLS per byte (../docs/data-plane.md); these streams carry nearly every byte
 * of a round, so they skip both. The messages are the gRPC methods' own, serialized by the same
 * functions; only their framing is this file's.
 *
 * One connection carries one call. Each frame is a u32 payload length (little-endian), a u8 kind,
 * then the payload:
 *   CALL     client, first: u8 method (BULK_METHODS), then the request message (FetchModelRequest;
 *            empty for SubmitUpdate, a client stream)
 *   MESSAGE  either side: one message of the call's stream (ModelMessage, UpdateMessage)
 *   END      client: its stream is complete (SubmitUpdate)
 *   STATUS   server, last: u32 code, u32 details length, the details (UTF-8), then the response
 *            message (SubmitUpdateResponse) when the code is OK and the method has one
 * The server answers every call with exactly one STATUS, then closes; a frame it cannot take (too
 * large, of an unknown kind, out of order) is answered with a STATUS naming it.
 */
import type { Socket } from 'node:net';
import { firstEvent } from '../process/first-event.js';

export const BULK_PROTOCOL = 'flotilla-bulk/1';

/** The methods a bulk connection may carry, by the byte that names them in CALL. */
export const BULK_METHODS = ['FetchModel', 'SubmitUpdate'] as const;
export type BulkMethod = (typeof BULK_METHODS)[number];

export const FRAME = { CALL: 1, MESSAGE: 2, END: 3, STATUS: 4 } as const;
export type FrameKind = (typeof FRAME)[keyof typeof FRAME];

const HEADER_BYTES = 5;

export interface Frame {
  kind: number;
  payload: Buffer;
}

/** A frame that cannot be taken: its length is past the bound, or the stream ended inside it. */
export class FrameError extends Error {
  constructor(
    readonly reason: 'too_large' | 'truncated',
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/** The header of a frame whose payload is `parts`, which follow it as they are (no copy). */
function header(kind: FrameKind, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32LE(length, 0);
  h[4] = kind;
  return h;
}

/**
 * Writes one frame, its payload given in parts (a message's protobuf prefix, then a view onto a
 * tensor's bytes: nothing is copied). Resolves once the socket can take more, or is gone.
 */
export async function writeFrame(socket: Socket, kind: FrameKind, ...parts: Uint8Array[]): Promise<void> {
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  socket.cork();
  socket.write(header(kind, length));
  let ready = true;
  for (const part of parts) ready = socket.write(part);
  socket.uncork();
  if (!ready && !socket.destroyed) await firstEvent(socket, ['drain', 'close', 'error']);
}

export function statusPayload(code: number, details: string, response?: Uint8Array): Buffer[] {
  const text = Buffer.from(details, 'utf8');
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32LE(code, 0);
  head.writeUInt32LE(text.byteLength, 4);
  return response ? [head, text, Buffer.from(response.buffer, response.byteOffset, response.byteLength)] : [head, text];
}

export function parseStatus(payload: Buffer): { code: number; details: string; response: Buffer } {
  if (payload.byteLength < 8) throw new FrameError('truncated', `a STATUS frame of ${payload.byteLength} bytes`);
  const code = payload.readUInt32LE(0);
  const length = payload.readUInt32LE(4);
  if (8 + length > payload.byteLength) throw new FrameError('truncated', 'a STATUS frame whose details run past its end');
  return { code, details: payload.toString('utf8', 8, 8 + length), response: payload.subarray(8 + length) };
}

/**
 * The frames arriving on a socket, one at a time: next() resolves with the next whole frame, or null
 * when the peer ended cleanly between frames. The socket is paused while a frame waits to be taken,
 * so what one connection holds in memory is one frame (at most maxPayload) and the socket's buffers.
 * A payload past maxPayload, or a connection ending inside a frame, rejects with a FrameError.
 */
export class FrameReader {
  private readonly frames: Frame[] = [];
  private waiting: { resolve(frame: Frame | null): void; reject(err: Error): void } | null = null;
  private failure: Error | null = null;
  private ended = false;
  /** The frame being assembled: its kind, its payload, and how much of it has arrived. */
  private partial: { kind: number; payload: Buffer; filled: number } | null = null;
  private head: Buffer = Buffer.alloc(0);

  constructor(
    private readonly socket: Socket,
    private readonly maxPayload: number,
  ) {
    socket.on('data', (data: Buffer) => this.take(data));
    socket.on('end', () => this.finish(null));
    socket.on('close', () => this.finish(null));
    socket.on('error', (err) => this.finish(err));
  }

  next(): Promise<Frame | null> {
    const frame = this.frames.shift();
    if (frame) {
      this.socket.resume();
      return Promise.resolve(frame);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    this.socket.resume();
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  private take(data: Buffer): void {
    let at = 0;
    while (at < data.byteLength && !this.failure) {
      if (!this.partial) {
        const need = HEADER_BYTES - this.head.byteLength;
        const piece = data.subarray(at, at + need);
        at += piece.byteLength;
        this.head = this.head.byteLength === 0 && piece.byteLength === HEADER_BYTES ? piece : Buffer.concat([this.head, piece]);
        if (this.head.byteLength < HEADER_BYTES) return;
        const length = this.head.readUInt32LE(0);
        const kind = this.head[4]!;
        this.head = Buffer.alloc(0);
        if (length > this.maxPayload) {
          this.fail(new FrameError('too_large', `a frame of ${length} bytes, more than the ${this.maxPayload} a frame may hold`));
          return;
        }
        // A payload wholly inside this read is a view onto it; one spread over reads is gathered once.
        if (data.byteLength - at >= length) {
          this.deliver({ kind, payload: data.subarray(at, at + length) });
          at += length;
          continue;
        }
        this.partial = { kind, payload: Buffer.allocUnsafe(length), filled: 0 };
      }
      const p = this.partial;
      const copied = data.copy(p.payload, p.filled, at, Math.min(data.byteLength, at + p.payload.byteLength - p.filled));
      p.filled += copied;
      at += copied;
      if (p.filled === p.payload.byteLength) {
        this.partial = null;
        this.deliver({ kind: p.kind, payload: p.payload });
      }
    }
  }

  private deliver(frame: Frame): void {
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = null;
      resolve(frame);
    } else {
      this.frames.push(frame);
      this.socket.pause();
    }
  }

  private finish(err: Error | null): void {
    if (this.ended || this.failure) return;
    if (!err && (this.partial || this.head.byteLength > 0)) err = new FrameError('truncated', 'the connection ended inside a frame');
    if (err) this.fail(err);
    else {
      this.ended = true;
      if (this.waiting && this.frames.length === 0) {
        const { resolve } = this.waiting;
        this.waiting = null;
        resolve(null);
      }
    }
  }

  private fail(err: Error): void {
    this.failure = err;
    this.partial = null;
    this.socket.pause();
    if (this.waiting) {
      const { reject } = this.waiting;
      this.waiting = null;
      reject(err);
    }
  }
}
