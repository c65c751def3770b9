import { describe, expect, it } from '@jest/globals';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import { encodeChunkMessage } from './chunk-codec.js';
import { Federation, LOADER_OPTIONS, PROTO_FILE, protoRoot } from './proto.js';

// A fresh load: protobufjs's own serializers, not the ones proto.ts wrapped.
const service = loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [protoRoot()] })['flotilla.federation.v1.Federation'] as ServiceDefinition;
const fetchModel = service.FetchModel!;
const submitUpdate = service.SubmitUpdate!;

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('encodeChunkMessage', () => {
  const cases = [
    { tensor: 0, offset: 0, data: bytes(8, 1) },
    { tensor: 3, offset: 1 << 20, data: bytes(1 << 20, 2) },
    { tensor: 200, offset: 2 ** 40 + 8, data: bytes(130, 3) },
    { tensor: 0xffffffff, offset: Number.MAX_SAFE_INTEGER - 7, data: bytes(1, 4) },
  ];

  it('writes the bytes protobufjs writes for a chunk message of either stream', () => {
    for (const chunk of cases) {
      expect(encodeChunkMessage(chunk).equals(fetchModel.responseSerialize({ chunk }))).toBe(true);
      expect(encodeChunkMessage(chunk).equals(submitUpdate.requestSerialize({ chunk }))).toBe(true);
    }
  });

  it('decodes with protobufjs to the chunk it was given', () => {
    for (const chunk of cases) {
      const model = fetchModel.responseDeserialize(encodeChunkMessage(chunk)) as { body: string; chunk: typeof chunk };
      expect(model.body).toBe('chunk');
      expect(model.chunk.tensor).toBe(chunk.tensor);
      expect(model.chunk.offset).toBe(chunk.offset);
      expect(Buffer.from(model.chunk.data).equals(chunk.data)).toBe(true);
      const update = submitUpdate.requestDeserialize(encodeChunkMessage(chunk)) as { body: string; chunk: typeof chunk };
      expect(update.body).toBe('chunk');
      expect(Buffer.from(update.chunk.data).equals(chunk.data)).toBe(true);
    }
  });

  it('refuses figures the wire cannot carry', () => {
    expect(() => encodeChunkMessage({ tensor: -1, offset: 0, data: bytes(8, 0) })).toThrow(RangeError);
    expect(() => encodeChunkMessage({ tensor: 2 ** 32, offset: 0, data: bytes(8, 0) })).toThrow(RangeError);
    expect(() => encodeChunkMessage({ tensor: 0, offset: 0.5, data: bytes(8, 0) })).toThrow(RangeError);
  });
});

describe('the Federation definition', () => {
  it('serializes chunks directly and headers with protobufjs, both decodable as before', () => {
    const definition = Federation.service;
    const chunk = { tensor: 1, offset: 64, data: bytes(64, 9) };
    expect(definition.FetchModel.responseSerialize({ chunk, body: 'chunk' }).equals(encodeChunkMessage(chunk))).toBe(true);
    const header = { tensors: [{ name: 'w', dtype: 'F32' as const, shape: [16] }], totalBytes: 64 };
    const encoded = definition.FetchModel.responseSerialize({ header, body: 'header' });
    expect(encoded.equals(fetchModel.responseSerialize({ header }))).toBe(true);
    const update = definition.SubmitUpdate.requestSerialize({ header: { kind: 'TRAIN', round: 2, model: header }, body: 'header' });
    expect((submitUpdate.requestDeserialize(update) as { header: { round: number } }).header.round).toBe(2);
  });
});
