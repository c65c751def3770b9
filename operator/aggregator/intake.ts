import { elementCount, sameSpec, tensorBytes, type TensorSpec } from '../federation/model.js';
import { ChunkValidator, StreamError, fromWireHeader, notFinite, type Values } from '../federation/tensor-stream.js';
import type { TensorChunk__Output, ModelHeader__Output } from '../federation/proto.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { Refusal } from './refusal.js';
import { OutOfRange, type RunningSum } from './running-sum.js';
import { checkFigures } from './site-records.js';
import { UndoJournal } from './undo-journal.js';

/**
 * One update arriving: its chunks are checked and taken in as they come, and nothing it did
 * survives a refusal. The aggregator drives it: take() per chunk, finish() at the end of the stream,
 * then (once the round state accepted it) commit(); undo() if anything was refused on the way;
 * revoke() when the phase closed under it.
 */
export interface Intake {
  take(chunk: TensorChunk__Output): void;
  /** Resolves when the next chunk may be taken (backpressure from the undo journal). */
  drained(): Promise<void>;
  /** The stream ended: refuses an update that stopped short (and, under central DP, clips it). */
  finish(): void | Promise<void>;
  /** Makes the update count; synchronous, so that nothing runs between acceptance and commit. */
  commit(): void;
  /** After commit: releases what the intake held (the undo journal). */
  cleanup(): Promise<void>;
  /** Takes back whatever the update changed. Idempotent. */
  undo(): Promise<void>;
  /** The phase closed under the update: undo it (or, if the round's sums are being discarded, just drop it). */
  revoke(sumsDiscarded: boolean): Promise<void>;
  /** After finish(), for an initial model: a digest of what it holds, which sites must agree on. */
  readonly digest?: string;
  /** An asynchronous update: a version closing while it arrives does not revoke it (it lands in the next buffer). */
  readonly outlivesPhase?: boolean;
}

function refusalOfStreamError(err: unknown): unknown {
  if (!(err instanceof StreamError)) return err;
  switch (err.reason) {
    case 'not-finite':
      return new Refusal('not_finite', `${err.message}: the update is refused; check the local training for divergence`);
    case 'too-many-bytes':
      return new Refusal('too_large', `${err.message}: more bytes than the model holds`);
    case 'bad-header':
      return new Refusal('wrong_shape', err.message);
    case 'bad-encoding':
      return new Refusal('bad_encoding', `${err.message}: the update is refused`);
    default:
      return new Refusal('malformed_stream', err.message);
  }
}

export function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw refusalOfStreamError(err);
  }
}

/** A size as a person reads it. */
export function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

function describeSpecs(specs: readonly TensorSpec[]): string {
  const shown = specs.slice(0, 4).map((s) => `${s.name}:${s.dtype}[${s.shape.join(',')}]`);
  return shown.join(' ') + (specs.length > 4 ? ` … (${specs.length} tensors)` : '');
}

/** Longest tensor name a site may send: PyTorch's names run to a few dozen characters. */
export const MAX_TENSOR_NAME = 256;

/** Refuses names no model has, before any message quotes them. */
function checkNames(header: ModelHeader__Output): void {
  const long = header.tensors.findIndex((t) => t.name.length > MAX_TENSOR_NAME);
  if (long >= 0) {
    throw new Refusal('wrong_shape', `tensor ${long} has a tensor name of ${header.tensors[long]!.name.length} characters; names have at most ${MAX_TENSOR_NAME}`);
  }
}

/** The tensors a header announces (none without a header), refused unless its figures add up. */
export function specsOfHeader(header: ModelHeader__Output | null): TensorSpec[] {
  if (!header) return [];
  checkNames(header);
  return checked(() => fromWireHeader(header));
}

/** The tensors an update header announces, checked against what the phase expects. */
export function specsOfUpdate(header: ModelHeader__Output | null, expected: readonly TensorSpec[], maxBytes: number): TensorSpec[] {
  if (!header) throw new Refusal('wrong_shape', `the update header has no model; expected ${describeSpecs(expected)}`);
  checkNames(header);
  const specs = checked(() => fromWireHeader(header));
  if (!sameSpec(specs, expected)) {
    throw new Refusal('wrong_shape', `the update's tensors (${describeSpecs(specs)}) differ from the global model's (${describeSpecs(expected)})`);
  }
  const total = specs.reduce((n, s) => n + tensorBytes(s), 0);
  if (total > maxBytes) {
    throw new Refusal('too_large', `the update holds ${sizeOf(total)}, more than the ${sizeOf(maxBytes)} allowed (aggregator.maxUpdateBytes)`);
  }
  return specs;
}

/** Checks that the header's figures are numbers a person could believe. */
export function checkHeaderFigures(header: UpdateHeader__Output): void {
  checkFigures('train', header.train);
  checkFigures('eval', header.eval);
}

/**
 * Central DP's clipping at the aggregator: the update's delta is folded as it comes, its norm summed
 * beside it; at the end an update over the clip norm C is scaled down to C by reading its journal
 * back and taking (1 − C/‖Δ‖) of it out again, so no update is ever held whole.
 */
export interface AggregatorClip {
  clipNorm: number;
  /** Hears each accepted update's norm before clipping. */
  onNorm(norm: number): void;
}

/** A TRAIN update: folded into the round's running sum chunk by chunk, journalled for undo. */
export class TrainIntake implements Intake {
  private readonly validator: ChunkValidator;
  private readonly names: string[];
  private readonly journal: UndoJournal;
  private committed = false;
  private revoked = false;
  /** The round's sums were reset (a retry): there is nothing left to take back from them. */
  private detached = false;
  /** The one undo (replay or discard), shared by everyone who waits for it. */
  private undone: Promise<void> | null = null;
  /** Σ of the squared delta folded so far. */
  private squares = 0;
  private norm = 0;
  /** The weight a clip took back out of the sum (0 unclipped); an undo puts it back, exactly. */
  private excess = 0;
  private clipping: Promise<void> | null = null;

  constructor(
    specs: readonly TensorSpec[],
    private readonly sum: RunningSum,
    private readonly weight: number,
    journalPath: string,
    private readonly onCommit: () => void,
    private readonly clip?: AggregatorClip,
  ) {
    // The fold refuses what is not finite in its own pass over the values: one pass fewer a chunk.
    this.validator = new ChunkValidator(specs, { finite: false });
    this.names = specs.map((s) => s.name);
    this.journal = UndoJournal.create(journalPath);
  }

  take(chunk: TensorChunk__Output): void {
    if (this.revoked || this.undone) throw new Refusal('stale_round', 'the round closed while this update arrived');
    const { tensor, offset, values } = checked(() => this.validator.accept(chunk));
    // Fold then journal in the same tick: the journal always holds exactly what was folded (a fold
    // that throws folded nothing). It gets the wire bytes (values may sit in the validator's
    // scratch buffer, reused for the next chunk).
    try {
      this.squares += this.sum.fold(tensor, offset, values as Float32Array, this.weight);
    } catch (err) {
      if (!(err instanceof OutOfRange)) throw err;
      if (!Number.isFinite(err.value)) throw refusalOfStreamError(notFinite(tensor, this.names[tensor]!, `at element ${err.element}`));
      throw new Refusal(
        'out_of_range',
        `tensor ${tensor} element ${err.element} is ${err.value.toPrecision(3)}, which with num_samples ${this.weight} moves the model by ` +
          `${err.weighted.toPrecision(3)}: more than the ${err.limit.toPrecision(3)} the aggregator sums exactly; the update is refused, check the local training for divergence`,
      );
    }
    this.journal.record(tensor, offset, chunk.data);
  }

  drained(): Promise<void> {
    return this.journal.drained();
  }

  finish(): void | Promise<void> {
    if (this.revoked) throw new Refusal('stale_round', 'the round closed while this update arrived');
    checked(() => this.validator.finish());
    if (!this.clip) return;
    this.norm = Math.sqrt(this.squares);
    if (this.norm <= this.clip.clipNorm) return;
    const keep = this.clip.clipNorm / this.norm;
    const excess = this.weight * (1 - keep);
    this.excess = excess;
    this.clipping = this.journal.replay((tensor, offset, values) => {
      if (!this.detached) this.sum.unfold(tensor, offset, values, excess);
    }, true);
    return this.clipping.then(() => {
      if (this.revoked) throw new Refusal('stale_round', 'the round closed while this update arrived');
    });
  }

  commit(): void {
    this.committed = true;
    this.sum.totalWeight += this.weight;
    this.clip?.onNorm(this.norm);
    this.onCommit();
  }

  cleanup(): Promise<void> {
    return this.journal.discard();
  }

  undo(): Promise<void> {
    if (this.committed) return Promise.resolve();
    // Reading the journal back takes a while; a reset of the sums meanwhile (detached) stops it subtracting.
    // After a clip's own replay, if one is under way: it changed what the sum holds of the update.
    this.undone ??= (this.clipping ?? Promise.resolve())
      .catch(() => {})
      .then(() =>
        this.journal.replay((tensor, offset, values) => {
          if (this.detached) return;
          // The exact inverse of what was done: the fold, and the clip's taking back.
          this.sum.unfold(tensor, offset, values, this.weight);
          if (this.excess > 0) this.sum.fold(tensor, offset, values, this.excess);
        }),
      );
    return this.undone;
  }

  revoke(sumsDiscarded: boolean): Promise<void> {
    this.revoked = true;
    if (sumsDiscarded) {
      this.detached = true;
      this.undone ??= this.journal.discard();
    }
    return this.undo();
  }
}

/**
 * An update that counts only whole, so it is assembled before commit: the initial model (there is no
 * global model to fold into yet), a statistics vector, or an evaluation (no tensors, figures only).
 */
export class WholeIntake implements Intake {
  private readonly validator: ChunkValidator;
  private readonly arrays: Values[];
  private revoked = false;

  constructor(
    specs: readonly TensorSpec[],
    private readonly onCommit: (arrays: Values[]) => void,
    /** Checks the whole update before it may be accepted; throws a Refusal. */
    private readonly check: (arrays: Values[]) => void = () => {},
  ) {
    this.validator = new ChunkValidator(specs);
    this.arrays = specs.map((s) => (s.dtype === 'F32' ? new Float32Array(elementCount(s.shape)) : new Float64Array(elementCount(s.shape))));
  }

  take(chunk: TensorChunk__Output): void {
    if (this.revoked) throw new Refusal('stale_round', 'the phase closed while this update arrived');
    const { tensor, offset, values } = checked(() => this.validator.accept(chunk));
    this.arrays[tensor]!.set(values, offset);
  }

  async drained(): Promise<void> {}

  finish(): void {
    if (this.revoked) throw new Refusal('stale_round', 'the phase closed while this update arrived');
    checked(() => this.validator.finish());
    this.check(this.arrays);
  }

  commit(): void {
    this.onCommit(this.arrays);
  }

  async cleanup(): Promise<void> {}
  async undo(): Promise<void> {}

  async revoke(): Promise<void> {
    this.revoked = true;
  }
}
