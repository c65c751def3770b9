import type { Writable } from 'node:stream';
import { firstEvent } from '../process/first-event.js';

/**
 * Writes to an object-mode stream (a gRPC server stream) with at most `limit` messages between
 * write() and their write callback, i.e. handed over but not yet sent. grpc-js's streams only push
 * back once 16 messages are queued, which for 1 MiB chunks is 16 MiB per download held in memory.
 */
export class SendWindow {
  private readonly pending: Promise<void>[] = [];
  /** Resolves when the stream is gone: callbacks of a cancelled call may never come. */
  private readonly gone: Promise<void>;

  constructor(
    private readonly stream: Writable,
    private readonly limit: number,
  ) {
    this.gone = firstEvent(stream, ['close', 'error', 'cancelled']);
  }

  /** Writes one message; resolves once fewer than `limit` are in flight (or the stream is gone). */
  async write(message: unknown): Promise<void> {
    this.pending.push(new Promise((resolve) => this.stream.write(message, () => resolve())));
    if (this.pending.length >= this.limit) await Promise.race([this.pending.shift()!, this.gone]);
  }
}
