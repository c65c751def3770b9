/**
 * The federation protocol's messages (proto/flotilla/federation/v1/federation.proto) written and
 * read by field number, independently of the generated code the aggregator and the client runtime
 * use. Numbers may be anything the wire holds (bigint up to 2^64 - 1, enum values no one defined),
 * and `extra` appends raw fields: unknown ones, repeats, wrong wire types.
 */
import { bool, bytes, double, FieldReader, message, packedDoubles, packedUints, sub, text, uint, type Field } from './protobuf.js';

export const TASK_KINDS = ['TASK_KIND_UNSPECIFIED', 'WAIT', 'STATISTICS', 'TRAIN', 'EVALUATE', 'DONE', 'INITIALIZE'] as const;
export type TaskKindName = (typeof TASK_KINDS)[number];
export const DTYPES = ['DTYPE_UNSPECIFIED', 'F32', 'F64'] as const;
export type DTypeName = (typeof DTYPES)[number];

type Num = number | bigint;
const enumValue = <T extends string>(names: readonly T[], value: T | number): number => (typeof value === 'number' ? value : names.indexOf(value));

export interface WireTensorSpec {
  name: string;
  dtype: DTypeName | number;
  shape: Num[];
}

export interface WireModelHeader {
  tensors: WireTensorSpec[];
  totalBytes?: Num;
}

export interface WireMetrics {
  numSamples?: Num;
  loss?: number;
  accuracy?: number;
  extra?: Record<string, number>;
}

export interface WireUpdateHeader {
  kind: TaskKindName | number;
  round?: Num;
  attempt?: Num;
  numSamples?: Num;
  train?: WireMetrics;
  eval?: WireMetrics;
  model?: WireModelHeader;
  extra?: Field[];
}

export interface WireChunk {
  tensor: Num;
  offset: Num;
  data: Uint8Array;
  extra?: Field[];
}

export function tensorSpec(t: WireTensorSpec): Uint8Array {
  return message(text(1, t.name), uint(2, enumValue(DTYPES, t.dtype)), t.shape.length > 0 ? packedUints(3, t.shape) : null);
}

export function modelHeader(h: WireModelHeader): Uint8Array {
  return message(...h.tensors.map((t) => sub(1, tensorSpec(t))), h.totalBytes !== undefined ? uint(2, h.totalBytes) : null);
}

export function metrics(m: WireMetrics): Uint8Array {
  const entries = Object.entries(m.extra ?? {}).map(([key, value]) => sub(4, message(text(1, key), double(2, value))));
  return message(
    m.numSamples !== undefined ? uint(1, m.numSamples) : null,
    m.loss !== undefined ? double(2, m.loss) : null,
    m.accuracy !== undefined ? double(3, m.accuracy) : null,
    ...entries,
  );
}

export function updateHeader(h: WireUpdateHeader): Uint8Array {
  return message(
    uint(1, enumValue(TASK_KINDS, h.kind)),
    h.round !== undefined ? uint(2, h.round) : null,
    h.attempt !== undefined ? uint(3, h.attempt) : null,
    h.numSamples !== undefined ? uint(4, h.numSamples) : null,
    h.train ? sub(5, metrics(h.train)) : null,
    h.eval ? sub(6, metrics(h.eval)) : null,
    h.model ? sub(7, modelHeader(h.model)) : null,
    ...(h.extra ?? []),
  );
}

export function tensorChunk(c: WireChunk): Uint8Array {
  return message(uint(1, c.tensor), uint(2, c.offset), bytes(3, c.data), ...(c.extra ?? []));
}

/** UpdateMessage { header = 1 } */
export const updateHeaderMessage = (h: WireUpdateHeader): Uint8Array => message(sub(1, updateHeader(h)));
/** UpdateMessage { chunk = 2 } */
export const updateChunkMessage = (c: WireChunk): Uint8Array => message(sub(2, tensorChunk(c)));

export const joinRequest = (protocolVersion: Num, clientVersion: string): Uint8Array => message(uint(1, protocolVersion), text(2, clientVersion));
export const nextTaskRequest = (waitMs: Num): Uint8Array => message(uint(1, waitMs));
export const fetchModelRequest = (round: Num): Uint8Array => message(uint(1, round));
export const heartbeatRequest = (round: Num, progress = 0): Uint8Array => message(uint(1, round), double(2, progress));

export interface ReadTensorSpec {
  name: string;
  dtype: DTypeName;
  shape: number[];
}

export interface ReadTask {
  kind: TaskKindName;
  round: number;
  attempt: number;
  seed: number;
  model: ReadTensorSpec[];
  statistics: number[];
  deadlineUnixMs: number;
  message: string;
  succeeded: boolean;
}

function readTensorSpecs(header: Buffer | undefined): ReadTensorSpec[] {
  if (!header) return [];
  return new FieldReader(header).repeatedBytes(1).map((t) => {
    const r = new FieldReader(t);
    return { name: r.text(1), dtype: DTYPES[r.uint(2)] ?? 'DTYPE_UNSPECIFIED', shape: r.repeatedUints(3) };
  });
}

export function readTask(data: Uint8Array): ReadTask {
  const r = new FieldReader(data);
  const params = r.bytes(4);
  return {
    kind: TASK_KINDS[r.uint(1)] ?? 'TASK_KIND_UNSPECIFIED',
    round: r.uint(2),
    attempt: r.uint(3),
    seed: params ? new FieldReader(params).uint(6) : 0,
    model: readTensorSpecs(r.bytes(5)),
    statistics: r.repeatedDoubles(6),
    deadlineUnixMs: r.uint(7),
    message: r.text(8),
    succeeded: r.bool(9),
  };
}

export function readJoinResponse(data: Uint8Array): { protocolVersion: number; job: string; site: string; rounds: number; heartbeatIntervalMs: number } {
  const r = new FieldReader(data);
  return { protocolVersion: r.uint(1), job: r.text(2), site: r.text(3), rounds: r.uint(4), heartbeatIntervalMs: r.uint(5) };
}

export function readSubmitUpdateResponse(data: Uint8Array): { round: number; bytesReceived: number } {
  const r = new FieldReader(data);
  return { round: r.uint(1), bytesReceived: r.uint(2) };
}

export function readHeartbeatResponse(data: Uint8Array): { roundOpen: boolean } {
  return { roundOpen: new FieldReader(data).bool(1) };
}

/** A ModelMessage: its header's tensors, or one chunk. */
export function readModelMessage(data: Uint8Array): { header: ReadTensorSpec[] } | { chunk: { tensor: number; offset: number; data: Buffer } } {
  const r = new FieldReader(data);
  const header = r.bytes(1);
  if (header) return { header: readTensorSpecs(header) };
  const c = new FieldReader(r.bytes(2) ?? Buffer.alloc(0));
  return { chunk: { tensor: c.uint(1), offset: c.uint(2), data: c.bytes(3) ?? Buffer.alloc(0) } };
}

export { bool, bytes, double, message, packedDoubles, packedUints, sub, text, uint, type Field };
