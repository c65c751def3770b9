import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Model } from './model.js';
import { SafetensorsError, readSafetensors, writeSafetensors } from './safetensors.js';

let folder: string;
beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'flotilla-safetensors-'));
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

let files = 0;
/** A file made byte by byte: 8-byte little-endian length, the header (space-padded to 8), the data. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): string {
  const json = Buffer.from(header, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, ' ');
  json.copy(padded);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declaredLength ?? BigInt(padded.length));
  const path = join(folder, `raw-${files++}.safetensors`);
  writeFileSync(path, Buffer.concat([prefix, padded, data]));
  return path;
}

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

const model: Model = [
  // Integer-like names would come first in a JS object: the file must keep the model's order.
  { name: 'layer.10.weight', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 1e-30, -0, 7) },
  { name: '7', shape: [], data: Float32Array.of(0.125) },
  { name: 'empty', shape: [0], data: new Float32Array(0) },
  { name: 'bias', shape: [3], data: Float32Array.of(-1, 0, 1) },
];

describe('writeSafetensors and readSafetensors', () => {
  it('round-trip a model and its metadata, in order, in the documented layout', async () => {
    const path = join(folder, 'model.safetensors');
    await writeSafetensors(path, model, { format: 'pt', round: '3' });
    expect(await readSafetensors(path)).toEqual({ model, metadata: { format: 'pt', round: '3' } });

    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = bytes.subarray(8, 8 + headerLength).toString('utf8');
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt","round":"3"},' +
        '"layer.10.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},' +
        '"7":{"dtype":"F32","shape":[],"data_offsets":[24,28]},' +
        '"empty":{"dtype":"F32","shape":[0],"data_offsets":[28,28]},' +
        '"bias":{"dtype":"F32","shape":[3],"data_offsets":[28,40]}}',
    );
    expect(bytes.length).toBe(8 + headerLength + 40);
    expect(bytes.readFloatLE(8 + headerLength + 24)).toBe(0.125);
  });

  it('write no __metadata__ when there is none', async () => {
    const path = join(folder, 'plain.safetensors');
    await writeSafetensors(path, model.slice(3));
    const bytes = readFileSync(path);
    expect(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8').trimEnd()).toBe('{"bias":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}');
    expect(await readSafetensors(path)).toEqual({ model: model.slice(3), metadata: {} });
  });

  it('stream a tensor larger than one I/O piece (64 MiB)', async () => {
    const path = join(folder, 'large.safetensors');
    const n = (64 << 20) / 4 + 3;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i += 4099) data[i] = i;
    data[n - 1] = -1;
    await writeSafetensors(path, [{ name: 'w', shape: [n], data }]);
    const [read] = (await readSafetensors(path)).model;
    expect(read!.data.length).toBe(n);
    expect(Buffer.from(read!.data.buffer).equals(Buffer.from(data.buffer))).toBe(true);
  });
});

describe('files written by Python', () => {
  // What safetensors' serializer makes: compact JSON, __metadata__ first, tensors laid out by
  // dtype (widest first) then name, header padded with spaces. Values from IEEE 754 by hand.
  const data = hex(`
    000000000000f83f 000000000000f0bf 0000000000007a40
    db0f4940 000080bf
    803f a0c0
    003c 00c0 0100 ff7b`);
  const expected = {
    metadata: { format: 'pt' },
    model: [
      { name: 'a', shape: [3], data: Float32Array.of(1.5, -1, 416) },
      { name: 'b', shape: [1, 2], data: Float32Array.of(Math.fround(Math.PI), -1) },
      { name: 'c', shape: [2], data: Float32Array.of(1, -5) },
      { name: 'd', shape: [2, 2], data: Float32Array.of(1, -2, 2 ** -24, 65504) },
    ],
  };
  const entries = {
    a: '"a":{"dtype":"F64","shape":[3],"data_offsets":[0,24]}',
    b: '"b":{"dtype":"F32","shape":[1,2],"data_offsets":[24,32]}',
    c: '"c":{"dtype":"BF16","shape":[2],"data_offsets":[32,36]}',
    d: '"d":{"dtype":"F16","shape":[2,2],"data_offsets":[36,44]}',
  };

  it('read F64, F32, BF16 and F16 as F32, in data order', async () => {
    const path = rawFile(`{"__metadata__":{"format":"pt"},${entries.a},${entries.b},${entries.c},${entries.d}}`, data);
    expect(await readSafetensors(path)).toEqual(expected);
  });

  it('read in data order whatever the order of the header keys', async () => {
    const path = rawFile(`{${entries.d},${entries.b},"__metadata__":{"format":"pt"},${entries.c},${entries.a}}`, data);
    expect(await readSafetensors(path)).toEqual(expected);
  });

  it('convert F64 tensors larger than the conversion scratch (8 MiB)', async () => {
    const n = (8 << 20) / 8 + 5;
    const values = Float64Array.from({ length: n }, (_, i) => i / 3);
    const path = rawFile(`{"x":{"dtype":"F64","shape":[${n}],"data_offsets":[0,${n * 8}]}}`, new Uint8Array(values.buffer));
    const [x] = (await readSafetensors(path)).model;
    expect(Buffer.from(x!.data.buffer).equals(Buffer.from(Float32Array.from(values).buffer))).toBe(true);
  });
});

describe('refusals', () => {
  const f32x2 = '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';
  const eight = new Uint8Array(8);

  it.each<[string, () => string, RegExp]>([
    ['a file shorter than 8 bytes', () => (writeFileSync(join(folder, 'short'), 'abc'), join(folder, 'short')), /too short/],
    ['a header length over 100 MB', () => rawFile(`{${f32x2}}`, eight, 100_000_001n), /over 100000000/],
    ['a header length past the end', () => rawFile(`{${f32x2}}`, eight, 4096n), /past the end/],
    ['a header that is not an object', () => rawFile('[1, 2]'), /start with/],
    ['a header that is not JSON', () => rawFile('{"w": '), /not JSON/],
    ['an unknown dtype', () => rawFile('{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', eight), /dtype "I64"/],
    ['a missing field', () => rawFile('{"w":{"dtype":"F32","shape":[2]}}', eight), /exactly dtype, shape and data_offsets/],
    ['an extra field', () => rawFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}', eight), /exactly/],
    ['a negative dimension', () => rawFile('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', eight), /shape \[-2\]/],
    ['a size that does not match the shape', () => rawFile('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight), /needs 12 bytes/],
    ['reversed offsets', () => rawFile('{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', eight), /data_offsets \[8,0\]/],
    [
      'a gap between tensors',
      () => rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, new Uint8Array(12)),
      /starts at byte 8, expected 4/,
    ],
    [
      'overlapping tensors',
      () => rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight),
      /starts at byte 4, expected 8/,
    ],
    ['bytes after the last tensor', () => rawFile(`{${f32x2}}`, new Uint8Array(12)), /cover 8 bytes but the file holds 12/],
    ['tensors past the end of the file', () => rawFile(`{${f32x2}}`, new Uint8Array(4)), /cover 8 bytes but the file holds 4/],
    ['metadata that is not strings', () => rawFile(`{"__metadata__":{"epoch":3},${f32x2}}`, eight), /__metadata__/],
    ['NaN in the data', () => rawFile(`{${f32x2}}`, hex('0000c07f 00000000')), /NaN or Infinity/],
    ['Infinity from F64 out of F32 range', () => rawFile('{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', hex('000000000000f07f')), /NaN or Infinity/],
  ])('%s', async (_, make, message) => {
    const path = make();
    const failure = await readSafetensors(path).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SafetensorsError);
    expect((failure as Error).message).toMatch(message);
    expect((failure as Error).message).toContain(path);
  });

  it('refuses invalid UTF-8 in the header', async () => {
    const path = rawFile('{"w":1}');
    const bytes = readFileSync(path);
    bytes[10] = 0xff;
    writeFileSync(path, bytes);
    await expect(readSafetensors(path)).rejects.toThrow(/not UTF-8/);
  });

  it.each<[string, Model]>([
    ['a tensor named __metadata__', [{ name: '__metadata__', shape: [1], data: Float32Array.of(1) }]],
    ['two tensors of one name', [model[3]!, model[3]!]],
    ['data that does not fill the shape', [{ name: 'w', shape: [2, 2], data: Float32Array.of(1, 2, 3) }]],
    ['NaN', [{ name: 'w', shape: [1], data: Float32Array.of(Number.NaN) }]],
  ])('writing refuses %s and leaves no file', async (_, bad) => {
    await expect(writeSafetensors(join(folder, 'refused.safetensors'), bad)).rejects.toThrow(SafetensorsError);
    expect(readdirSync(folder).filter((f) => f.includes('refused'))).toEqual([]);
  });
});
