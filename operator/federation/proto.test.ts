import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pipeline } from 'node:stream/promises';
import { Readable, type Writable } from 'node:stream';
import { Server, ServerCredentials, credentials, status, type ServiceError } from '@grpc/grpc-js';
import type { Model } from './model.js';
import { CHUNK_BYTES } from './chunk.js';
import { Federation, grpcMessageLimits, maxMessageBytes, type FederationClient, type FederationHandlers } from './proto.js';
import { StreamError, modelMessages, receiveModel } from './tensor-stream.js';
import { expectRegenerated } from '../../test/support/generated-files.js';


describe('generated types', () => {
  it('are what scripts/gen-proto.sh makes from the .proto today', () => {
    expectRegenerated('operator/federation/generated', 'bash', (out) => ['scripts/gen-proto.sh', out]);
  });
});

describe('message limits', () => {
  it('leave room for a chunk and its header, never below the gRPC default', () => {
    expect(maxMessageBytes()).toBeGreaterThanOrEqual(CHUNK_BYTES + (4 << 20));
    expect(grpcMessageLimits(8 << 20)['grpc.max_receive_message_length']).toBe(maxMessageBytes(8 << 20));
  });
});

describe('FetchModel over a real socket', () => {
  const server = new Server(grpcMessageLimits());
  let client: FederationClient;
  // About 3 MB in tensors whose sizes are not multiples of the chunk size.
  const model: Model = [
    { name: 'a', shape: [3], data: Float32Array.of(1, 2, 3) },
    { name: 'b', shape: [513, 1023], data: Float32Array.from({ length: 513 * 1023 }, (_, i) => Math.sin(i)) },
    { name: 'c', shape: [250_001], data: Float32Array.from({ length: 250_001 }, (_, i) => i / 7) },
  ];

  beforeAll(async () => {
    const handlers: FederationHandlers = {
      FetchModel: (call) => {
        if (call.request.round !== 1) {
          call.emit('error', { code: status.NOT_FOUND, details: `no model for round ${call.request.round}` });
          return;
        }
        // pipeline() honours backpressure and ends the call; its types only know byte streams.
        void pipeline(Readable.from(modelMessages(model)), call as unknown as Writable).catch(() => undefined);
      },
      Join: (_call, done) => done({ code: status.UNIMPLEMENTED }),
      NextTask: (_call, done) => done({ code: status.UNIMPLEMENTED }),
      SubmitUpdate: (_call, done) => done({ code: status.UNIMPLEMENTED }),
      Heartbeat: (_call, done) => done({ code: status.UNIMPLEMENTED }),
      SecAgg: (_call, done) => done({ code: status.UNIMPLEMENTED }),
      SubmitMasked: (_call, done) => done({ code: status.UNIMPLEMENTED }),
    };
    server.addService(Federation.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = new Federation(`127.0.0.1:${port}`, credentials.createInsecure(), grpcMessageLimits());
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  it('delivers the model bit for bit through protobuf decoding', async () => {
    const received = await receiveModel(client.fetchModel({ round: 1 }));
    expect(received).toEqual(model);
  });

  it('passes server errors through as gRPC status', async () => {
    const failure = await receiveModel(client.fetchModel({ round: 2 })).catch((e: unknown) => e);
    expect(failure).not.toBeInstanceOf(StreamError);
    expect((failure as ServiceError).code).toBe(status.NOT_FOUND);
  });
});
