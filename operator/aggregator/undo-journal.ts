import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { firstEvent } from '../process/first-event.js';

/**
 * The undo journal of one update in flight: every chunk already folded into the round's running sum,
 * appended to a file in the state dir as it is folded. If the update is refused halfway (a NaN in
 * chunk 40, a stream cut short, too many bytes), replay() reads the chunks back one at a time so the
 * caller can subtract them, and the round goes on as if the update had never come. On success the
 * file is simply deleted.
 *
 * Why a file and not memory: keeping the chunks would hold a whole update per stream in flight,
 * which is exactly what folding as we go avoids. The file is written sequentially, straight from the
 * received messages' buffers, with backpressure (record() says when to wait for drained()), and read
 * back with a buffer of one chunk, so memory stays O(chunk) per stream. Writes are buffered, not fsynced: a journal only matters while its
 * aggregator lives; a restarted aggregator re-runs the round and deletes stale journals. The price
 * is disk: the state volume holds, for every update in flight, the bytes folded so far (at most the
 * model's size per uploading site). Subtracting restores the sum to float32 rounding ((s + x) − x).
 *
 * Record layout: u32 tensor, u32 element count, f64 element offset (little-endian), then the values.
 */
const RECORD_HEADER = 16;

export type JournalEntry = (tensor: number, elementOffset: number, values: Float32Array) => void;

export class UndoJournal {
  private readonly out: WriteStream;
  private closed = false;

  private constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'w', highWaterMark: 4 << 20 });
    // Errors surface in drained()/replay(); an unhandled 'error' event would crash the process.
    this.out.on('error', () => {});
  }

  static create(path: string): UndoJournal {
    return new UndoJournal(path);
  }

  /**
   * Appends one folded chunk: `values` are its float32 elements (any view of their bytes), written
   * without a copy, so the caller must not reuse their memory (a received message's own buffer, never
   * a scratch buffer). Returns false when the caller should await drained() before the next.
   */
  record(tensor: number, elementOffset: number, values: ArrayBufferView): boolean {
    const header = Buffer.allocUnsafe(RECORD_HEADER);
    header.writeUInt32LE(tensor, 0);
    header.writeUInt32LE(values.byteLength / Float32Array.BYTES_PER_ELEMENT, 4);
    header.writeDoubleLE(elementOffset, 8);
    // Corked, the header and the values leave in one writev.
    this.out.cork();
    this.out.write(header);
    const ready = this.out.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    this.out.uncork();
    return ready;
  }

  async drained(): Promise<void> {
    // 'close' too: a journal replayed meanwhile is ended, and an ended stream never drains.
    if (this.out.writableNeedDrain) await firstEvent(this.out, ['drain', 'close', 'error']);
    if (this.out.errored) throw this.out.errored;
  }

  /** Reads every recorded chunk back, in order, then deletes the file (unless `keep`: it may be replayed again). */
  async replay(each: JournalEntry, keep = false): Promise<void> {
    await this.close();
    const file = await open(this.path, 'r');
    try {
      const header = Buffer.alloc(RECORD_HEADER);
      let values = new Float32Array(0);
      let position = 0;
      for (;;) {
        const { bytesRead } = await file.read(header, 0, RECORD_HEADER, position);
        if (bytesRead === 0) break;
        if (bytesRead < RECORD_HEADER) throw new Error(`undo journal ${this.path} is truncated at byte ${position}`);
        const tensor = header.readUInt32LE(0);
        const count = header.readUInt32LE(4);
        const elementOffset = header.readDoubleLE(8);
        if (values.length < count) values = new Float32Array(count);
        const view = values.subarray(0, count);
        const body = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
        const read = await file.read(body, 0, body.length, position + RECORD_HEADER);
        if (read.bytesRead < body.length) throw new Error(`undo journal ${this.path} is truncated at byte ${position}`);
        each(tensor, elementOffset, view);
        position += RECORD_HEADER + body.length;
      }
    } finally {
      await file.close();
      if (!keep) await rm(this.path, { force: true });
    }
  }

  /** The update was accepted (or its round discarded): forget the chunks. */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.path, { force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.out.end();
    await finished(this.out);
  }
}
