/**
 * Protocol Buffers wire format by hand, so that a hostile peer can write any bytes the encoding
 * allows, and some it does not: a field is a tag (number, wire type) and a payload, a message is
 * fields one after the other. Nothing here knows the federation protocol (federation-wire.ts does).
 *
 *   message(uint(1, 7), text(2, 'x'), sub(5, message(...)))  -> bytes
 *   readFields(bytes)                                          -> [{ field, wire, value }]
 */

/** A field of a message, already encoded. */
export type Field = Uint8Array;

export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const FIXED32 = 5;

/** A base-128 varint; bigint for values past 2^53 (uint64 goes to 2^64 - 1, negative int64 to ten bytes). */
export function varint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

export function tag(field: number, wire: number): Uint8Array {
  return varint((BigInt(field) << 3n) | BigInt(wire));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** The fields of a message, in the order given (any order, repeats and all). */
export function message(...fields: (Field | null | undefined)[]): Uint8Array {
  return concat(fields.filter((f): f is Field => f != null));
}

export function uint(field: number, value: number | bigint): Field {
  return concat([tag(field, VARINT), varint(value)]);
}

export function bool(field: number, value: boolean): Field {
  return uint(field, value ? 1 : 0);
}

export function double(field: number, value: number): Field {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(value);
  return concat([tag(field, FIXED64), b]);
}

export function bytes(field: number, value: Uint8Array): Field {
  return concat([tag(field, LENGTH_DELIMITED), varint(value.length), value]);
}

export function text(field: number, value: string): Field {
  return bytes(field, Buffer.from(value, 'utf8'));
}

/** An embedded message. */
export function sub(field: number, encoded: Uint8Array): Field {
  return bytes(field, encoded);
}

/** A repeated scalar, packed (proto3's default): one length-delimited run of varints. */
export function packedUints(field: number, values: readonly (number | bigint)[]): Field {
  return bytes(field, concat(values.map((v) => varint(v))));
}

/** A repeated double, packed. */
export function packedDoubles(field: number, values: readonly number[]): Field {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeDoubleLE(v, i * 8));
  return bytes(field, b);
}

export interface WireField {
  field: number;
  wire: number;
  /** VARINT: bigint; FIXED64/FIXED32: the raw bytes; LENGTH_DELIMITED: the payload. */
  value: bigint | Buffer;
}

/** Splits a message into its fields; throws on bytes that are not a message. */
export function readFields(data: Uint8Array): WireField[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const fields: WireField[] = [];
  let at = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= buf.length) throw new Error('truncated varint');
      const byte = buf[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  };
  const take = (n: number): Buffer => {
    if (at + n > buf.length) throw new Error('truncated field');
    const slice = buf.subarray(at, at + n);
    at += n;
    return slice;
  };
  while (at < buf.length) {
    const key = readVarint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    switch (wire) {
      case VARINT:
        fields.push({ field, wire, value: readVarint() });
        break;
      case FIXED64:
        fields.push({ field, wire, value: take(8) });
        break;
      case LENGTH_DELIMITED:
        fields.push({ field, wire, value: take(Number(readVarint())) });
        break;
      case FIXED32:
        fields.push({ field, wire, value: take(4) });
        break;
      default:
        throw new Error(`wire type ${wire} of field ${field}`);
    }
  }
  return fields;
}

/** Reads fields by number: the last value of a singular field, every value of a repeated one. */
export class FieldReader {
  private readonly fields: WireField[];

  constructor(data: Uint8Array) {
    this.fields = readFields(data);
  }

  private all(field: number): WireField[] {
    return this.fields.filter((f) => f.field === field);
  }

  uint(field: number): number {
    const f = this.all(field).at(-1);
    return f && f.wire === VARINT ? Number(f.value as bigint) : 0;
  }

  bool(field: number): boolean {
    return this.uint(field) !== 0;
  }

  double(field: number): number {
    const f = this.all(field).at(-1);
    return f && f.wire === FIXED64 ? (f.value as Buffer).readDoubleLE(0) : 0;
  }

  text(field: number): string {
    return this.bytes(field)?.toString('utf8') ?? '';
  }

  bytes(field: number): Buffer | undefined {
    const f = this.all(field).at(-1);
    return f && f.wire === LENGTH_DELIMITED ? (f.value as Buffer) : undefined;
  }

  /** Every occurrence of an embedded message or a string field. */
  repeatedBytes(field: number): Buffer[] {
    return this.all(field)
      .filter((f) => f.wire === LENGTH_DELIMITED)
      .map((f) => f.value as Buffer);
  }

  /** A repeated uint field, packed or not. */
  repeatedUints(field: number): number[] {
    return this.all(field).flatMap((f) => (f.wire === VARINT ? [Number(f.value as bigint)] : unpackVarints(f.value as Buffer)));
  }

  /** A repeated double field, packed or not. */
  repeatedDoubles(field: number): number[] {
    return this.all(field).flatMap((f) => {
      const b = f.value as Buffer;
      if (f.wire === FIXED64) return [b.readDoubleLE(0)];
      return Array.from({ length: b.length / 8 }, (_, i) => b.readDoubleLE(i * 8));
    });
  }
}

function unpackVarints(payload: Buffer): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < payload.length) {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = payload[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
    }
    out.push(Number(result));
  }
  return out;
}
