/**
 * Tensors on the wire: one header of tensor specs, then chunks in order (tensor by tensor, byte
 * offsets contiguous). Used for FetchModel (a model) and SubmitUpdate (a model or a statistics
 * vector).
 *
 * Sending:
 *   modelMessages(model)            -> {header}, then {chunk}s: the FetchModel stream
 *   toWireHeader(specs)             -> the ModelHeader to put in an UpdateHeader or a Task
 *   tensorChunks(arrays)            -> the chunks of any F32/F64 arrays, e.g. after an UpdateHeader
 *   Chunk data are views onto the arrays' memory: a model sent to many sites is never copied.
 *
 * Receiving:
 *   receiveModel(messages, expected?, encoding?)  -> the whole Model (client side), decoded
 *   fromWireHeader(header)             -> TensorSpec[], checked
 *   const v = new ChunkValidator(specs); v.accept(chunk) per chunk -> {tensor, offset, values};
 *   v.finish() at the end. `values` are the chunk's elements (Float32Array for F32, Float64Array for
 *   F64), checked finite (unless the caller's own pass checks them: `{ finite: false }`), valid only
 *   until the next accept(): fold them in at once.
 *
 * Every fault is a StreamError whose `reason` names it; a stream that threw is not to be continued.
 */
import { createHash } from 'node:crypto';
import { BYTES_PER_ELEMENT, specOf, tensorBytes, sameSpec, type DType, type Model, type TensorSpec } from './model.js';
import { CHUNK_BYTES, type WireChunk } from './chunk.js';
import type { ModelHeader__Output } from './generated/flotilla/federation/v1/ModelHeader.js';
import type { ModelMessage__Output } from './generated/flotilla/federation/v1/ModelMessage.js';
import type { TensorChunk__Output } from './generated/flotilla/federation/v1/TensorChunk.js';
import { allFinite, type Values } from './finite.js';
import { encodedChunks, type Encoding } from './compression.js';
import { ChunkDecoder } from './chunk-decoder.js';
import { StreamError } from './stream-error.js';

export type { Values } from './finite.js';

export { StreamError, type StreamFault } from './stream-error.js';

/** One chunk's elements: tensor index, offset in elements from the tensor's start, the values. */
export interface ChunkValues {
  tensor: number;
  offset: number;
  values: Values;
}

// The wire is little-endian and typed arrays use the host's order: say so loudly if they differ.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('flotilla needs a little-endian host');

export function toWireHeader(specs: readonly TensorSpec[]): ModelHeader__Output {
  return {
    tensors: specs.map((s) => ({ name: s.name, dtype: s.dtype, shape: [...s.shape] })),
    totalBytes: specs.reduce((n, s) => n + tensorBytes(s), 0),
  };
}

/** The tensor specs of a received header, refused (bad-header) unless every figure adds up. */
export function fromWireHeader(header: ModelHeader__Output): TensorSpec[] {
  const bad = (why: string) => new StreamError('bad-header', `model header: ${why}`);
  const names = new Set<string>();
  let total = 0;
  const specs = header.tensors.map((t, i): TensorSpec => {
    if (t.name === '') throw bad(`tensor ${i} has no name`);
    if (names.has(t.name)) throw bad(`tensor name ${JSON.stringify(t.name)} appears twice`);
    names.add(t.name);
    if (t.dtype !== 'F32' && t.dtype !== 'F64') throw bad(`tensor ${JSON.stringify(t.name)} has dtype ${t.dtype}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`tensor ${JSON.stringify(t.name)} has shape [${t.shape.join(', ')}]`);
    }
    const spec: TensorSpec = { name: t.name, dtype: t.dtype, shape: [...t.shape] };
    total += tensorBytes(spec);
    if (!Number.isSafeInteger(total)) throw bad(`tensor ${JSON.stringify(t.name)} is too large`);
    return spec;
  });
  if (header.totalBytes !== total) throw bad(`total_bytes is ${header.totalBytes} but the tensors hold ${total}`);
  return specs;
}

/**
 * The chunks of arrays, in order, each a view onto the array's memory. A chunk never spans two
 * tensors; chunkBytes must be a multiple of 8 so that no element is split.
 */
export function* tensorChunks(arrays: readonly Values[], chunkBytes: number = CHUNK_BYTES): Generator<TensorChunk__Output> {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % 8 !== 0) {
    throw new RangeError(`chunkBytes must be a positive multiple of 8, not ${chunkBytes}`);
  }
  for (let tensor = 0; tensor < arrays.length; tensor++) {
    const a = arrays[tensor]!;
    for (let offset = 0; offset < a.byteLength; offset += chunkBytes) {
      const length = Math.min(chunkBytes, a.byteLength - offset);
      yield { tensor, offset, data: Buffer.from(a.buffer, a.byteOffset + offset, length) };
    }
  }
}

/** The FetchModel stream of a model: its header, then its chunks, encoded as the job's downloads are. */
export function* modelMessages(model: Model, chunkBytes: number = CHUNK_BYTES, encoding: Encoding = 'ENCODING_NONE'): Generator<ModelMessage__Output> {
  yield { header: toWireHeader(specOf(model)), body: 'header' };
  const arrays = model.map((t) => t.data);
  const chunks = encoding === 'ENCODING_NONE' ? tensorChunks(arrays, chunkBytes) : encodedChunks(arrays, encoding);
  for (const chunk of chunks) yield { chunk: chunk as TensorChunk__Output, body: 'chunk' };
}

/** The refusal of a chunk with NaN or ±Infinity in it; `where` says where in the tensor. */
export function notFinite(tensor: number, name: string, where: string): StreamError {
  return new StreamError('not-finite', `NaN or Infinity in tensor ${tensor} (${JSON.stringify(name)}) ${where}`);
}

/** Checks a stream of chunks against the specs it must carry and decodes each chunk's elements. */
export class ChunkValidator {
  readonly totalBytes: number;
  private readonly sizes: number[];
  private tensor = 0;
  private offset = 0; // bytes received of this.tensor
  private received = 0;
  private scratch = new ArrayBuffer(0);

  constructor(
    private readonly specs: readonly TensorSpec[],
    /** Whether accept() refuses NaN and ±Infinity: false where the caller's one pass over the values does. */
    private readonly options: { finite: boolean } = { finite: true },
  ) {
    this.sizes = specs.map(tensorBytes);
    this.totalBytes = this.sizes.reduce((n, s) => n + s, 0);
    this.skipFullTensors();
  }

  get bytesReceived(): number {
    return this.received;
  }

  accept(chunk: WireChunk): ChunkValues {
    const { tensor, offset, data } = chunk;
    const spec = this.specs[tensor];
    if (spec === undefined) {
      throw new StreamError('unknown-tensor', `chunk for tensor ${tensor}: the model has ${this.specs.length} tensors`);
    }
    if (this.tensor === this.specs.length) {
      throw new StreamError('too-many-bytes', `chunk for tensor ${tensor} after the last tensor (${this.totalBytes} bytes)`);
    }
    if (tensor !== this.tensor || offset !== this.offset) {
      throw new StreamError(
        'out-of-order',
        `expected tensor ${this.tensor} at byte ${this.offset}, got tensor ${tensor} at byte ${offset}`,
      );
    }
    if (data.byteLength === 0) throw new StreamError('empty-chunk', `empty chunk for tensor ${tensor} at byte ${offset}`);
    const elementBytes = BYTES_PER_ELEMENT[spec.dtype];
    if (data.byteLength % elementBytes !== 0) {
      throw new StreamError('misaligned', `chunk of ${data.byteLength} bytes for ${spec.dtype} tensor ${tensor}`);
    }
    const size = this.sizes[tensor]!;
    if (offset + data.byteLength > size) {
      throw new StreamError(
        'too-many-bytes',
        `chunk ends at byte ${offset + data.byteLength} of tensor ${tensor} (${JSON.stringify(spec.name)}), which has ${size}`,
      );
    }
    const values = this.view(spec.dtype, data);
    if (this.options.finite && !allFinite(values)) throw notFinite(tensor, spec.name, `near byte ${offset}`);
    this.offset += data.byteLength;
    this.received += data.byteLength;
    this.skipFullTensors();
    return { tensor, offset: offset / elementBytes, values };
  }

  /** Refuses (incomplete) a stream that ended before its last byte. */
  finish(): void {
    if (this.tensor < this.specs.length) {
      throw new StreamError(
        'incomplete',
        `stream ended at byte ${this.offset} of tensor ${this.tensor} (${JSON.stringify(this.specs[this.tensor]!.name)}): ` +
          `${this.received} of ${this.totalBytes} bytes received`,
      );
    }
  }

  private skipFullTensors(): void {
    while (this.tensor < this.specs.length && this.offset === this.sizes[this.tensor]) {
      this.tensor++;
      this.offset = 0;
    }
  }

  /**
   * A zero-copy view when the bytes sit aligned in their buffer. Protobuf hands out slices of the
   * message buffer at any offset, and a typed array cannot start off its element boundary: only
   * then copy, into one reused scratch buffer.
   */
  private view(dtype: DType, data: Uint8Array): Values {
    const elementBytes = BYTES_PER_ELEMENT[dtype];
    let buffer: ArrayBufferLike = data.buffer;
    let byteOffset = data.byteOffset;
    if (byteOffset % elementBytes !== 0) {
      if (this.scratch.byteLength < data.byteLength) this.scratch = new ArrayBuffer(data.byteLength);
      new Uint8Array(this.scratch, 0, data.byteLength).set(data);
      buffer = this.scratch;
      byteOffset = 0;
    }
    const count = data.byteLength / elementBytes;
    return dtype === 'F32' ? new Float32Array(buffer, byteOffset, count) : new Float64Array(buffer, byteOffset, count);
  }
}

/** What receiveModel reads: generated ModelMessage__Output objects, or anything shaped like them. */
export interface ModelMessageLike {
  header?: ModelHeader__Output | null;
  chunk?: WireChunk | null;
}

/**
 * Assembles a model from its stream (a gRPC ClientReadableStream is an AsyncIterable). With
 * `expected`, the header must announce exactly those tensors (bad-header otherwise), which also
 * bounds what is allocated before any data arrives.
 */
export async function receiveModel(
  messages: AsyncIterable<ModelMessageLike> | Iterable<ModelMessageLike>,
  expected?: readonly TensorSpec[],
  encoding: Encoding = 'ENCODING_NONE',
): Promise<Model> {
  let model: Model | undefined;
  let validator: ChunkValidator | undefined;
  let decoder: ChunkDecoder | undefined;
  for await (const message of messages) {
    if (message.header) {
      if (model) throw new StreamError('bad-message', 'a second header in the model stream');
      const specs = fromWireHeader(message.header);
      const f64 = specs.find((s) => s.dtype !== 'F32');
      if (f64) throw new StreamError('bad-header', `model header: tensor ${JSON.stringify(f64.name)} is ${f64.dtype}, not F32`);
      if (expected && !sameSpec(specs, expected)) {
        throw new StreamError('bad-header', 'model header: the tensors differ from the ones expected');
      }
      model = specs.map((s) => ({ name: s.name, shape: s.shape, data: new Float32Array(tensorBytes(s) / 4) }));
      validator = new ChunkValidator(specs);
      decoder = new ChunkDecoder(specs, encoding, 0);
    } else if (message.chunk) {
      if (!model || !validator || !decoder) throw new StreamError('bad-message', 'a chunk before the model header');
      const { tensor, offset, values } = validator.accept(decoder.decode(message.chunk));
      model[tensor]!.data.set(values, offset);
    } else {
      throw new StreamError('bad-message', 'a model message with neither header nor chunk');
    }
  }
  if (!model || !validator) throw new StreamError('bad-message', 'the model stream ended before its header');
  validator.finish();
  return model;
}

/** The most bytes handed to a hash at once. */
const HASH_PIECE_BYTES = 2 ** 30;

/**
 * The digest both ends of a transfer record of it: SHA-256 over the arrays' bytes in order, which
 * is the chunks' data in the order they are streamed. A site's audit trail and the aggregator's can
 * be held against each other update by update.
 */
export class ContentDigest {
  private readonly hash = createHash('sha256');
  bytes = 0;

  add(data: Uint8Array): void {
    // Node's hash takes at most 2^31 - 1 bytes per call ("data is too long"): a tensor past 2 GiB
    // is fed to it in pieces.
    for (let at = 0; at < data.byteLength; at += HASH_PIECE_BYTES) this.hash.update(data.subarray(at, at + HASH_PIECE_BYTES));
    this.bytes += data.byteLength;
  }

  hex(): string {
    return this.hash.copy().digest('hex');
  }

  static of(arrays: readonly ArrayBufferView[]): ContentDigest {
    const digest = new ContentDigest();
    for (const a of arrays) digest.add(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return digest;
  }
}
