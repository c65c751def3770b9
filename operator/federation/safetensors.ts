/**
 * Models as safetensors files (https://github.com/huggingface/safetensors): 8 bytes of little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
 * {string: string}} padded with spaces to a multiple of 8, then the raw little-endian data.
 *
 *   await writeSafetensors(path, model, metadata?)   // F32, atomically (see process/atomic-file.ts)
 *   const { model, metadata } = await readSafetensors(path)
 *
 * Both stream tensor by tensor through a file handle in bounded pieces, so a model larger than
 * 2 GiB, or than any single Buffer, works. Reading accepts F32, F64, F16 and BF16 and returns F32
 * (Python trainers often write float64), in data order; it checks the header strictly. Both refuse
 * NaN and Infinity. Every fault is a SafetensorsError naming the file and what is wrong.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../process/atomic-file.js';
import { allFinite } from './finite.js';
import { elementCount, type Model } from './model.js';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface SafetensorsFile {
  model: Model;
  metadata: Record<string, string>;
}

/** safetensors' own limit, so a corrupt length cannot make us allocate gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;
/** Bytes per read or write call: the OS caps one call near 2 GiB, and progress stays smooth. */
const IO_BYTES = 64 << 20;
/** Scratch for dtypes converted on read: memory stays bounded by the model plus this. */
const CONVERT_BYTES = 8 << 20;

const DTYPE_BYTES = { F32: 4, F64: 8, F16: 2, BF16: 2 } as const;
type FileDType = keyof typeof DTYPE_BYTES;

interface Entry {
  name: string;
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

export async function writeSafetensors(path: string, model: Model, metadata: Record<string, string> = {}): Promise<void> {
  const fields: string[] = [];
  if (Object.keys(metadata).length > 0) fields.push(`"__metadata__":${JSON.stringify(metadata)}`);
  const names = new Set<string>();
  let offset = 0;
  for (const t of model) {
    if (t.name === '__metadata__' || names.has(t.name)) throw new SafetensorsError(`${path}: tensor name ${JSON.stringify(t.name)} cannot be written`);
    if (t.data.length !== elementCount(t.shape)) {
      throw new SafetensorsError(`${path}: tensor ${JSON.stringify(t.name)} has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    }
    if (!allFinite(t.data)) throw new SafetensorsError(`${path}: tensor ${JSON.stringify(t.name)} holds NaN or Infinity`);
    names.add(t.name);
    const entry = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    // Built field by field: an object would move integer-like names ahead and lose the model's order.
    fields.push(`${JSON.stringify(t.name)}:${JSON.stringify(entry)}`);
    offset += t.data.byteLength;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const header = Buffer.alloc(8 + Math.ceil(json.length / 8) * 8, ' ');
  header.writeBigUInt64LE(BigInt(header.length - 8), 0);
  json.copy(header, 8);

  await writeFileAtomic(path, async (file) => {
    await writeFully(file, header, 0);
    let position = header.length;
    for (const t of model) {
      await writeFully(file, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), position);
      position += t.data.byteLength;
    }
  });
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const file = await open(path, 'r');
  try {
    const fail = (why: string) => new SafetensorsError(`${path}: ${why}`);
    const { size } = await file.stat();
    if (size < 8) throw fail(`${size} bytes is too short for a safetensors file`);
    const prefix = Buffer.alloc(8);
    await readFully(file, prefix, 0, fail);
    const headerLength = prefix.readBigUInt64LE(0);
    if (headerLength > BigInt(MAX_HEADER_BYTES)) throw fail(`header length ${headerLength} is over ${MAX_HEADER_BYTES} bytes`);
    if (headerLength + 8n > BigInt(size)) throw fail(`header length ${headerLength} runs past the end of the file (${size} bytes)`);
    const headerBytes = Buffer.alloc(Number(headerLength));
    await readFully(file, headerBytes, 8, fail);
    const dataStart = 8 + headerBytes.length;
    const { entries, metadata } = parseHeader(headerBytes, size - dataStart, fail);

    const model: Model = [];
    for (const e of entries) {
      const data = new Float32Array(elementCount(e.shape));
      await readTensor(file, e, dataStart + e.begin, data, fail);
      if (!allFinite(data)) throw fail(`tensor ${JSON.stringify(e.name)} holds NaN or Infinity (as F32)`);
      model.push({ name: e.name, shape: e.shape, data });
    }
    return { model, metadata };
  } finally {
    await file.close();
  }
}

type Fail = (why: string) => SafetensorsError;

function parseHeader(bytes: Buffer, dataBytes: number, fail: Fail): { entries: Entry[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw fail('the header is not UTF-8');
  }
  if (!text.startsWith('{')) throw fail('the header does not start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(`the header is not JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) throw fail('the header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
        throw fail('__metadata__ must map strings to strings');
      }
      metadata = value as Record<string, string>;
      continue;
    }
    entries.push(parseEntry(name, value, fail));
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected) {
      throw fail(`tensor ${JSON.stringify(e.name)} starts at byte ${e.begin}, expected ${expected} (offsets must be contiguous, without overlap)`);
    }
    expected = e.end;
  }
  if (expected !== dataBytes) throw fail(`the tensors cover ${expected} bytes but the file holds ${dataBytes} after the header`);
  return { entries, metadata };
}

function parseEntry(name: string, value: unknown, fail: Fail): Entry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isObject(value)) throw fail(`${what} is not an object`);
  const keys = Object.keys(value).sort().join(',');
  if (keys !== 'data_offsets,dtype,shape') throw fail(`${what} must have exactly dtype, shape and data_offsets, not ${keys}`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw fail(`${what} has dtype ${JSON.stringify(dtype)}; readable: ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw fail(`${what} has shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0]! > offsets[1]!) {
    throw fail(`${what} has data_offsets ${JSON.stringify(offsets)}`);
  }
  const bytes = (shape as number[]).reduce((n, d) => n * d, DTYPE_BYTES[dtype as FileDType]);
  const [begin, end] = offsets as [number, number];
  if (!Number.isSafeInteger(bytes) || end - begin !== bytes) {
    throw fail(`${what}: ${dtype} [${shape.join(', ')}] needs ${bytes} bytes, data_offsets give ${end - begin}`);
  }
  return { name, dtype: dtype as FileDType, shape: shape as number[], begin, end };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads a tensor into `out`, converting F64, F16 and BF16 piece by piece through a bounded scratch. */
async function readTensor(file: FileHandle, e: Entry, position: number, out: Float32Array, fail: Fail): Promise<void> {
  if (e.dtype === 'F32') {
    await readFully(file, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), position, fail);
    return;
  }
  const width = DTYPE_BYTES[e.dtype];
  const scratch = new ArrayBuffer(Math.min(CONVERT_BYTES, e.end - e.begin));
  const perPiece = scratch.byteLength / width;
  for (let done = 0; done < out.length; done += perPiece) {
    const count = Math.min(perPiece, out.length - done);
    await readFully(file, new Uint8Array(scratch, 0, count * width), position + done * width, fail);
    const target = out.subarray(done, done + count);
    if (e.dtype === 'F64') target.set(new Float64Array(scratch, 0, count));
    else if (e.dtype === 'BF16') bfloat16ToFloat32(new Uint16Array(scratch, 0, count), target);
    else float16ToFloat32(new Uint16Array(scratch, 0, count), target);
  }
}

/** bfloat16 is the top half of a float32. */
function bfloat16ToFloat32(from: Uint16Array, to: Float32Array): void {
  const bits = new Uint32Array(to.buffer, to.byteOffset, to.length);
  for (let i = 0; i < from.length; i++) bits[i] = from[i]! << 16;
}

let halfTable: Float32Array | undefined;

/** IEEE 754 half precision, through a 65536-entry table (256 KiB, made on first use). */
function float16ToFloat32(from: Uint16Array, to: Float32Array): void {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >> 10) & 0x1f;
      const fraction = h & 0x3ff;
      if (exponent === 0) halfTable[h] = sign * fraction * 2 ** -24;
      else if (exponent === 31) halfTable[h] = fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
      else halfTable[h] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
  }
  for (let i = 0; i < from.length; i++) to[i] = halfTable[from[i]!]!;
}

async function readFully(file: FileHandle, into: Uint8Array, position: number, fail: Fail): Promise<void> {
  for (let done = 0; done < into.byteLength; ) {
    const { bytesRead } = await file.read(into, done, Math.min(IO_BYTES, into.byteLength - done), position + done);
    if (bytesRead === 0) throw fail(`the file ended at byte ${position + done} (was it changed while being read?)`);
    done += bytesRead;
  }
}

async function writeFully(file: FileHandle, from: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < from.byteLength; ) {
    const { bytesWritten } = await file.write(from, done, Math.min(IO_BYTES, from.byteLength - done), position + done);
    done += bytesWritten;
  }
}
