import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Model, TensorSpec } from '../federation/model.js';
import { ChunkValidator } from '../federation/tensor-stream.js';
import type { TensorChunk__Output } from '../federation/proto.js';
import { firstEvent } from '../process/first-event.js';
import { checked, type Intake } from './intake.js';
import { Refusal } from './refusal.js';
import type { SpilledRound } from './spilled-round.js';

/**
 * The most a robust round's update may move one coordinate, as the running sum's range at weight 1:
 * any sum, distance or mean of such deltas stays finite, so a hostile site cannot make the next
 * global model Infinity even where it outnumbers what the rule withstands.
 */
export const MAX_ROBUST_DELTA = 2 ** 27;

/**
 * A TRAIN update of a robust round: checked chunk by chunk and spilled to a file of the state volume
 * as it arrives (its wire bytes, in order: the file is the update's F32 values, tensor after tensor),
 * with backpressure, so the update is never held whole. Only once it arrived whole, is synced to
 * disk and is accepted does the file join the round; a refused, cut or revoked update's file is
 * deleted, and the round is as if it never came.
 */
export class SpillIntake implements Intake {
  private readonly validator: ChunkValidator;
  private readonly out: WriteStream;
  private squares = 0;
  private closed = false;
  private committed = false;
  private revoked = false;
  private undone: Promise<void> | null = null;

  constructor(
    specs: readonly TensorSpec[],
    private readonly global: Model,
    private readonly round: SpilledRound,
    private readonly site: string,
    private readonly path: string,
    /** Hears the update's norm when it counts. */
    private readonly onCommit: (norm: number) => void,
  ) {
    this.validator = new ChunkValidator(specs);
    this.out = createWriteStream(path, { flags: 'w', highWaterMark: 4 << 20 });
    // Errors surface in drained()/finish(); an unhandled 'error' event would crash the process.
    this.out.on('error', () => {});
  }

  take(chunk: TensorChunk__Output): void {
    if (this.revoked || this.undone) throw new Refusal('stale_round', 'the round closed while this update arrived');
    const { tensor, offset, values } = checked(() => this.validator.accept(chunk));
    const g = this.global[tensor]!.data;
    let squares = 0;
    for (let i = 0, j = offset; i < values.length; i++, j++) {
      const d = values[i]! - g[j]!;
      if (Math.abs(d) > MAX_ROBUST_DELTA) {
        throw new Refusal(
          'out_of_range',
          `tensor ${tensor} element ${j} is ${values[i]!.toPrecision(3)}, which moves the model by ${d.toPrecision(3)}: more than the ${MAX_ROBUST_DELTA.toPrecision(3)} ` +
            'an update may move one parameter in a round; the update is refused, check the local training for divergence',
        );
      }
      squares += d * d;
    }
    this.squares += squares;
    // The wire bytes, not `values` (the validator's scratch buffer, reused for the next chunk).
    this.out.write(new Uint8Array(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength));
  }

  async drained(): Promise<void> {
    if (this.out.writableNeedDrain) await firstEvent(this.out, ['drain', 'close', 'error']);
    if (this.out.errored) throw this.out.errored;
  }

  async finish(): Promise<void> {
    if (this.revoked) throw new Refusal('stale_round', 'the round closed while this update arrived');
    checked(() => this.validator.finish());
    await this.close();
    // Synced before it counts: an accepted update is on the volume, whole.
    const file = await open(this.path, 'r+');
    try {
      await file.sync();
    } finally {
      await file.close();
    }
    if (this.revoked) throw new Refusal('stale_round', 'the round closed while this update arrived');
  }

  commit(): void {
    this.committed = true;
    const norm = Math.sqrt(this.squares);
    this.round.add({ site: this.site, path: this.path, norm });
    this.onCommit(norm);
  }

  /** The file now belongs to the round, which deletes it once it closed or was discarded. */
  async cleanup(): Promise<void> {}

  undo(): Promise<void> {
    if (this.committed) return Promise.resolve();
    this.undone ??= this.close()
      .catch(() => {})
      .then(() => rm(this.path, { force: true }));
    return this.undone;
  }

  revoke(): Promise<void> {
    this.revoked = true;
    return this.undo();
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.out.end();
    await finished(this.out);
  }
}
