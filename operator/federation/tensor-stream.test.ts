import { describe, expect, it } from '@jest/globals';
import type { Model, TensorSpec } from './model.js';
import { createHash } from 'node:crypto';
import {
  ChunkValidator,
  ContentDigest,
  StreamError,
  fromWireHeader,
  modelMessages,
  receiveModel,
  tensorChunks,
  toWireHeader,
  type ModelMessageLike,
  type StreamFault,
} from './tensor-stream.js';
import type { WireChunk } from './chunk.js';

function ramp(n: number, start: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => start + i * 0.25);
}

/** Tensors of 5, 0, 1, 21 and 1000 elements: none a multiple of the 64-byte chunks used below. */
function sampleModel(): Model {
  return [
    { name: 'embed', shape: [5], data: ramp(5, 1) },
    { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
    { name: 'scale', shape: [], data: Float32Array.of(-2.5) },
    { name: 'dense.weight', shape: [3, 7], data: ramp(21, -10) },
    { name: 'dense.bias', shape: [1000], data: ramp(1000, 0.5) },
  ];
}

/** The same bytes at a given byteOffset inside a larger buffer, as protobuf decoding leaves them. */
function shifted(data: Uint8Array, shift: number): Buffer {
  const host = Buffer.alloc(data.byteLength + shift + 3);
  host.set(data, shift);
  return host.subarray(shift, shift + data.byteLength);
}

function chunk(tensor: number, offset: number, values: number[] | Float32Array | Float64Array, f64 = false): WireChunk {
  const typed = f64 ? Float64Array.from(values) : Float32Array.from(values);
  return { tensor, offset, data: Buffer.from(typed.buffer) };
}

function fault(run: () => unknown): StreamFault | 'none' {
  try {
    run();
  } catch (e) {
    if (e instanceof StreamError) return e.reason;
    throw e;
  }
  return 'none';
}

async function asyncFault(run: () => Promise<unknown>): Promise<StreamFault | 'none'> {
  try {
    await run();
  } catch (e) {
    if (e instanceof StreamError) return e.reason;
    throw e;
  }
  return 'none';
}

const twoTensors: TensorSpec[] = [
  { name: 'a', dtype: 'F32', shape: [4] },
  { name: 'b', dtype: 'F64', shape: [2] },
];

describe('modelMessages', () => {
  it('sends the header, then chunks that never span two tensors, in order', () => {
    const model = sampleModel();
    const messages = [...modelMessages(model, 64)];
    expect(messages[0]!.header).toEqual({
      tensors: [
        { name: 'embed', dtype: 'F32', shape: [5] },
        { name: 'empty', dtype: 'F32', shape: [0, 3] },
        { name: 'scale', dtype: 'F32', shape: [] },
        { name: 'dense.weight', dtype: 'F32', shape: [3, 7] },
        { name: 'dense.bias', dtype: 'F32', shape: [1000] },
      ],
      totalBytes: 4 * (5 + 0 + 1 + 21 + 1000),
    });
    const chunks = messages.slice(1).map((m) => [m.chunk!.tensor, m.chunk!.offset, m.chunk!.data.byteLength]);
    expect(chunks.slice(0, 5)).toEqual([
      [0, 0, 20],
      [2, 0, 4],
      [3, 0, 64],
      [3, 64, 20],
      [4, 0, 64],
    ]);
    expect(chunks.at(-1)).toEqual([4, 3968, 32]);
    expect(chunks.length).toBe(1 + 1 + 2 + Math.ceil(4000 / 64));
  });

  it('sends views onto the model memory, not copies', () => {
    const model = sampleModel();
    const messages = [...modelMessages(model)];
    const bias = messages.find((m) => m.chunk?.tensor === 4)!.chunk!.data;
    expect(bias.buffer).toBe(model[4]!.data.buffer);
    model[4]!.data[0] = 42;
    expect(new Float32Array(bias.buffer, bias.byteOffset, 1)[0]).toBe(42);
  });

  it('refuses a chunk size that could split an element', () => {
    expect(() => [...tensorChunks([new Float64Array(4)], 12)]).toThrow(RangeError);
    expect(() => [...tensorChunks([new Float64Array(4)], 0)]).toThrow(RangeError);
  });
});

describe('receiveModel', () => {
  it('reassembles the model exactly, whatever the chunk size', async () => {
    for (const chunkBytes of [8, 64, 1 << 20]) {
      const model = await receiveModel(modelMessages(sampleModel(), chunkBytes));
      expect(model).toEqual(sampleModel());
    }
  });

  it('decodes chunks that sit at odd byte offsets in their buffers', async () => {
    const messages = [...modelMessages(sampleModel(), 64)].map((m, i): ModelMessageLike =>
      m.chunk ? { chunk: { ...m.chunk, data: shifted(m.chunk.data, 1 + (i % 3)) } } : m,
    );
    expect(await receiveModel(messages)).toEqual(sampleModel());
  });

  it('reads an async stream and checks the header against the expected specs', async () => {
    async function* stream() {
      yield* modelMessages(sampleModel(), 64);
    }
    const expected = sampleModel().map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape }));
    expect(await receiveModel(stream(), expected)).toEqual(sampleModel());
    const renamed = expected.map((s, i) => (i === 3 ? { ...s, name: 'other' } : s));
    expect(await asyncFault(() => receiveModel(stream(), renamed))).toBe('bad-header');
  });

  it('refuses streams without exactly one header first', async () => {
    const [header, ...chunks] = [...modelMessages(sampleModel(), 64)];
    expect(await asyncFault(() => receiveModel(chunks))).toBe('bad-message');
    expect(await asyncFault(() => receiveModel([header!, header!, ...chunks]))).toBe('bad-message');
    expect(await asyncFault(() => receiveModel([header!, {}, ...chunks]))).toBe('bad-message');
    expect(await asyncFault(() => receiveModel([]))).toBe('bad-message');
  });

  it('refuses a stream that stops early, or a model of F64 tensors', async () => {
    const messages = [...modelMessages(sampleModel(), 64)];
    expect(await asyncFault(() => receiveModel(messages.slice(0, -1)))).toBe('incomplete');
    const header = toWireHeader([{ name: 'x', dtype: 'F64', shape: [1] }]);
    expect(await asyncFault(() => receiveModel([{ header }]))).toBe('bad-header');
  });
});

describe('ChunkValidator', () => {
  it('hands back each chunk as elements of its dtype, with element offsets', () => {
    const v = new ChunkValidator(twoTensors);
    const first = v.accept(chunk(0, 0, [1, 2]));
    expect(first.tensor).toBe(0);
    expect(first.offset).toBe(0);
    expect(Array.from(first.values)).toEqual([1, 2]);
    const second = v.accept(chunk(0, 8, [3, 4]));
    expect(second.offset).toBe(2);
    const stats = v.accept(chunk(1, 0, [0.1, 1e300], true));
    expect(stats.values).toBeInstanceOf(Float64Array);
    expect(Array.from(stats.values)).toEqual([0.1, 1e300]);
    expect(v.bytesReceived).toBe(32);
    v.finish();
  });

  it('views aligned bytes in place and copies misaligned ones into one reused scratch buffer', () => {
    const specs: TensorSpec[] = [{ name: 'w', dtype: 'F32', shape: [6] }];
    const v = new ChunkValidator(specs);
    const aligned = chunk(0, 0, [1, 2]);
    expect(v.accept(aligned).values.buffer).toBe(aligned.data.buffer);
    const odd1 = { tensor: 0, offset: 8, data: shifted(chunk(0, 0, [3, 4]).data, 1) };
    const odd2 = { tensor: 0, offset: 16, data: shifted(chunk(0, 0, [5, 6]).data, 3) };
    const a = v.accept(odd1);
    expect(Array.from(a.values)).toEqual([3, 4]);
    const b = v.accept(odd2);
    expect(Array.from(b.values)).toEqual([5, 6]);
    expect(a.values.buffer).not.toBe(odd1.data.buffer);
    expect(b.values.buffer).toBe(a.values.buffer);
    v.finish();
  });

  it('decodes F64 statistics sent at any 4-aligned but not 8-aligned offset', () => {
    const stats = Float64Array.of(3, 1.5, -7);
    const v = new ChunkValidator([{ name: 'statistics', dtype: 'F64', shape: [3] }]);
    for (const c of tensorChunks([stats], 8)) {
      const { offset, values } = v.accept({ ...c, data: shifted(c.data, 4) });
      expect(values[0]).toBe(stats[offset]);
    }
    v.finish();
  });

  // Each refusal after a valid prefix, against tensors a: F32[4] (16 bytes) and b: F64[2] (16 bytes).
  it.each<[StreamFault, string, WireChunk[]]>([
    ['unknown-tensor', 'a tensor index past the header', [chunk(2, 0, [1])]],
    ['out-of-order', 'a gap at the start', [chunk(0, 4, [1])]],
    ['out-of-order', 'a repeated chunk', [chunk(0, 0, [1]), chunk(0, 0, [2])]],
    ['out-of-order', 'tensor 0 left unfinished', [chunk(0, 0, [1]), chunk(1, 0, [1], true)]],
    ['out-of-order', 'back to a finished tensor', [chunk(0, 0, [1, 2, 3, 4]), chunk(0, 0, [1])]],
    ['misaligned', '3 bytes of F32', [{ tensor: 0, offset: 0, data: Buffer.alloc(3) }]],
    ['misaligned', '12 bytes of F64', [chunk(0, 0, [1, 2, 3, 4]), chunk(1, 0, [1, 2, 3])]],
    ['empty-chunk', 'no bytes', [{ tensor: 0, offset: 0, data: Buffer.alloc(0) }]],
    ['too-many-bytes', 'past the end of tensor 0', [chunk(0, 0, [1, 2, 3, 4, 5])]],
    ['too-many-bytes', 'after the last tensor', [chunk(0, 0, [1, 2, 3, 4]), chunk(1, 0, [1, 2], true), chunk(1, 16, [3], true)]],
    ['not-finite', 'NaN in F32', [chunk(0, 0, [1, Number.NaN])]],
    ['not-finite', '-Infinity in F64', [chunk(0, 0, [1, 2, 3, 4]), chunk(1, 0, [Number.NEGATIVE_INFINITY], true)]],
  ])('refuses %s: %s', (reason, _, chunks) => {
    const v = new ChunkValidator(twoTensors);
    expect(
      fault(() => {
        for (const c of chunks) v.accept(c);
      }),
    ).toBe(reason);
  });

  it('refuses to finish before the last byte, naming the position', () => {
    const v = new ChunkValidator(twoTensors);
    v.accept(chunk(0, 0, [1, 2, 3, 4]));
    v.accept(chunk(1, 0, [1], true));
    expect(fault(() => v.finish())).toBe('incomplete');
    expect(() => v.finish()).toThrow(/byte 8 of tensor 1 \("b"\): 24 of 32 bytes/);
  });

  it('accepts an empty model at once', () => {
    new ChunkValidator([]).finish();
    new ChunkValidator([{ name: 'none', dtype: 'F32', shape: [0] }]).finish();
  });
});

describe('wire headers', () => {
  it('round-trips specs', () => {
    expect(fromWireHeader(toWireHeader(twoTensors))).toEqual(twoTensors);
    expect(toWireHeader(twoTensors).totalBytes).toBe(32);
  });

  it.each([
    ['a wrong total', { tensors: [{ name: 'a', dtype: 'F32', shape: [4] }], totalBytes: 12 }],
    ['an unspecified dtype', { tensors: [{ name: 'a', dtype: 'DTYPE_UNSPECIFIED', shape: [1] }], totalBytes: 4 }],
    ['a duplicate name', { tensors: [{ name: 'a', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F32', shape: [1] }], totalBytes: 8 }],
    ['an empty name', { tensors: [{ name: '', dtype: 'F32', shape: [1] }], totalBytes: 4 }],
    ['a fractional dimension', { tensors: [{ name: 'a', dtype: 'F32', shape: [1.5] }], totalBytes: 6 }],
    ['an absurd size', { tensors: [{ name: 'a', dtype: 'F64', shape: [2 ** 40, 2 ** 20] }], totalBytes: 0 }],
  ] as const)('refuses %s', (_, header) => {
    expect(fault(() => fromWireHeader({ ...header, tensors: header.tensors.map((t) => ({ ...t, shape: [...t.shape] })) }))).toBe('bad-header');
  });
});

describe('ContentDigest', () => {
  it('digests a tensor past 2 GiB, which one call of a Node hash refuses', () => {
    // Zero-filled pages that are only read stay the kernel's shared zero page: little memory.
    const tensor = new Float32Array(2 ** 29 + 4); // 2 GiB + 16 bytes
    const bytes = new Uint8Array(tensor.buffer);
    expect(() => createHash('sha256').update(bytes)).toThrow(/data is too long/);
    const digest = ContentDigest.of([tensor]);
    expect(digest.bytes).toBe(2 ** 31 + 16);
    // SHA-256 of 2^31 + 16 zero bytes, by Python's hashlib.
    expect(digest.hex()).toBe('49ba1b2e1b2ee76becdf2fbefdfdd8cc2e89c57379ca8e21eded873d70480a77');
  });
});
