/**
 * A serializer for the messages that carry tensor chunks (ModelMessage and UpdateMessage with their
 * `chunk` set), which are nearly all the bytes of the data plane. protobufjs encodes a chunk into a
 * buffer of its own through a generic writer (per-field ops, then a copy of the data); this writes
 * the same wire format (`body.chunk` is field 2 of both, TensorChunk is {tensor=1, offset=2, data=3})
 * straight into one buffer sized up front: one copy of the data, no intermediate objects. Messages
 * without a chunk (headers) go to the protobufjs serializer they came with.
 */
import type { WireChunk } from './chunk.js';

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const tag = (field: number, wireType: number) => (field << 3) | wireType;

const BODY_CHUNK = tag(2, WIRE_BYTES);
const CHUNK_TENSOR = tag(1, WIRE_VARINT);
const CHUNK_OFFSET = tag(2, WIRE_VARINT);
const CHUNK_DATA = tag(3, WIRE_BYTES);

/** Bytes of the varint of a non-negative safe integer (offsets may pass 2^32, so no bit operators). */
function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

function writeVarint(buffer: Buffer, position: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buffer[position++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buffer[position++] = v;
  return position;
}

/**
 * The wire bytes of {chunk: {tensor, offset, data}} that come before `data` itself: a frame may send
 * them and then the data from where it lies (the bulk transport, bulk-frames.ts).
 */
export function chunkMessagePrefix(chunk: WireChunk): Buffer {
  const { tensor, offset, data } = chunk;
  if (!Number.isSafeInteger(tensor) || tensor < 0 || tensor > 0xffffffff) throw new RangeError(`tensor index ${tensor} is not a uint32`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`chunk offset ${offset} is not a uint64`);
  const inner = 1 + varintLength(tensor) + 1 + varintLength(offset) + 1 + varintLength(data.byteLength) + data.byteLength;
  const buffer = Buffer.allocUnsafe(1 + varintLength(inner) + inner - data.byteLength);
  let p = 0;
  buffer[p++] = BODY_CHUNK;
  p = writeVarint(buffer, p, inner);
  buffer[p++] = CHUNK_TENSOR;
  p = writeVarint(buffer, p, tensor);
  buffer[p++] = CHUNK_OFFSET;
  p = writeVarint(buffer, p, offset);
  buffer[p++] = CHUNK_DATA;
  writeVarint(buffer, p, data.byteLength);
  return buffer;
}

/** The wire bytes of {chunk: {tensor, offset, data}}, which protobufjs decodes as ModelMessage or UpdateMessage. */
export function encodeChunkMessage(chunk: WireChunk): Buffer {
  const prefix = chunkMessagePrefix(chunk);
  const buffer = Buffer.allocUnsafe(prefix.byteLength + chunk.data.byteLength);
  buffer.set(prefix, 0);
  buffer.set(chunk.data, prefix.byteLength);
  return buffer;
}

/** A message of either stream: a chunk, or something else (a header) for the generic serializer. */
interface ChunkOrOther {
  chunk?: WireChunk | null;
}

/** Wraps a protobufjs serializer so that chunk messages take the direct path above. */
export function withChunkFastPath<T extends ChunkOrOther>(generic: (message: T) => Buffer): (message: T) => Buffer {
  return (message) => (message.chunk ? encodeChunkMessage(message.chunk) : generic(message));
}
