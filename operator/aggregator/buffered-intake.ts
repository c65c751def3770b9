import type { TensorSpec } from '../federation/model.js';
import { ChunkValidator, ContentDigest } from '../federation/tensor-stream.js';
import type { TensorChunk__Output } from '../federation/proto.js';
import { checked, type Intake } from './intake.js';
import { OutOfRange } from './running-sum.js';
import { Refusal } from './refusal.js';
import type { SiteRound } from './result.js';
import type { UpdateBuffer } from './update-buffer.js';

/**
 * An asynchronous update: assembled whole (4 bytes per parameter while it arrives), then folded into
 * the buffer at commit with the staleness of that moment. It cannot be folded as it streams, as a
 * synchronous update is: the buffer it would fold into may be applied while it arrives, and its
 * weight depends on the version at acceptance. A version closing under it does not revoke it: it
 * lands in the next buffer. Its reply waits until it is durable (`persist`, after the audit trail's
 * entry, so that no update is in the checkpoint that the trail lacks): an accepted update is in the
 * checkpoint before its site hears so. A site that lost the answer sends the same update again:
 * the round state matches it to the one it holds, and it is answered as taken without being folded
 * again.
 */
export class BufferedIntake implements Intake {
  readonly outlivesPhase = true;
  private readonly validator: ChunkValidator;
  private readonly arrays: Float32Array[];
  private revoked = false;
  /** SHA-256 of the chunks' bytes, as the audit trails record an update. */
  private readonly content = new ContentDigest();

  constructor(
    specs: readonly TensorSpec[],
    private readonly buffer: UpdateBuffer,
    private readonly entry: SiteRound,
    /** The version the site trained on: its task's round − 1. */
    private readonly trainedOn: number,
    private readonly persist: () => Promise<void>,
    /** The site's last accepted update sent again: checked against it by the round state, never folded twice. */
    private readonly replay: boolean,
  ) {
    this.validator = new ChunkValidator(specs);
    this.arrays = specs.map((s) => new Float32Array(s.shape.reduce((n, d) => n * d, 1)));
  }

  take(chunk: TensorChunk__Output): void {
    if (this.revoked) throw new Refusal('stale_round', 'the job moved on while this update arrived');
    const { tensor, offset, values } = checked(() => this.validator.accept(chunk));
    this.arrays[tensor]!.set(values as Float32Array, offset);
    this.content.add(chunk.data);
  }

  /** After finish(): what the round state compares a re-sent update with. */
  get digest(): string {
    return this.content.hex();
  }

  async drained(): Promise<void> {}

  finish(): void {
    if (this.revoked) throw new Refusal('stale_round', 'the job moved on while this update arrived');
    checked(() => this.validator.finish());
    if (this.replay) return;
    if (!this.buffer.base(this.trainedOn)) {
      throw new Refusal('stale_round', `version ${this.trainedOn}, which this update was trained on, is no longer kept (older than maxStaleness); ask NextTask for the newest model`);
    }
    try {
      this.buffer.check(this.trainedOn, this.arrays, this.entry.numSamples);
    } catch (err) {
      if (!(err instanceof OutOfRange)) throw err;
      throw new Refusal(
        'out_of_range',
        `tensor ${err.tensor} element ${err.element} is ${err.value.toPrecision(3)}, which with num_samples ${this.entry.numSamples} moves the model by ` +
          `${err.weighted.toPrecision(3)}: more than the ${err.limit.toPrecision(3)} the aggregator sums exactly; the update is refused, check the local training for divergence`,
      );
    }
  }

  commit(): void {
    if (!this.replay) this.buffer.add(this.entry, this.trainedOn, this.arrays);
  }

  /** After the audit trail recorded the update, before its site hears: the checkpoint takes it in. */
  async cleanup(): Promise<void> {
    if (!this.replay) await this.persist();
  }

  async undo(): Promise<void> {}

  async revoke(): Promise<void> {
    this.revoked = true;
  }
}
