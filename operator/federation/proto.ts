/**
 * The federation protocol, loaded once from proto/ with the options its generated types were made
 * with (scripts/gen-proto.sh): camelCase fields, 64-bit integers as numbers, enums as strings,
 * defaults filled in, and the `body` oneof named.
 *
 *   server.addService(Federation.service, handlers)            // handlers: FederationHandlers
 *   new Federation(address, credentials, grpcMessageLimits())  // a FederationClient
 *
 * Models travel in chunks of CHUNK_BYTES (chunk.ts); grpcMessageLimits() raises gRPC's message limits to a
 * chunk plus room for the largest header, on both the server and the client.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type ChannelOptions } from '@grpc/grpc-js';
import { loadSync, type Options, type ServiceDefinition } from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/federation.js';
import { CHUNK_BYTES } from './chunk.js';
import { withChunkFastPath } from './chunk-codec.js';

export type { FederationClient, FederationHandlers } from './generated/flotilla/federation/v1/Federation.js';
export type { ModelMessage, ModelMessage__Output } from './generated/flotilla/federation/v1/ModelMessage.js';
export type { UpdateMessage, UpdateMessage__Output } from './generated/flotilla/federation/v1/UpdateMessage.js';
export type { ModelHeader, ModelHeader__Output } from './generated/flotilla/federation/v1/ModelHeader.js';
export type { TensorChunk, TensorChunk__Output } from './generated/flotilla/federation/v1/TensorChunk.js';

/** What Join exchanges; the package name (v1) carries the major version. */
export const PROTOCOL_VERSION = 1;

/**
 * Room beside a chunk for everything else one message may carry: a ModelHeader inside a Task or an
 * UpdateHeader (tensor names and shapes), a statistics vector. Never below gRPC's 4 MiB default.
 */
const HEADROOM_BYTES = 4 << 20;

export const PROTO_FILE = 'flotilla/federation/v1/federation.proto';

export const LOADER_OPTIONS: Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** The largest message either side accepts when chunks are chunkBytes long. */
export function maxMessageBytes(chunkBytes: number = CHUNK_BYTES): number {
  return chunkBytes + HEADROOM_BYTES;
}

/** Channel options for a server or a client that exchange chunks of chunkBytes. */
export function grpcMessageLimits(chunkBytes: number = CHUNK_BYTES): ChannelOptions {
  const limit = maxMessageBytes(chunkBytes);
  return { 'grpc.max_receive_message_length': limit, 'grpc.max_send_message_length': limit };
}

/**
 * The folder holding proto/: the nearest ancestor of this module that has it, so the same code
 * works from the sources (operator/federation/) and from the build (dist/operator/federation/).
 */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, PROTO_FILE))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${PROTO_FILE} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

const definition = loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [protoRoot()] });

/**
 * The two chunk streams serialize their chunks by hand (chunk-codec.ts): they carry nearly every byte,
 * and both ends (grpc-js clients and servers) take their serializers from this definition.
 */
function serializeChunksDirectly(service: ServiceDefinition): void {
  const fetchModel = service.FetchModel!;
  const submitUpdate = service.SubmitUpdate!;
  fetchModel.responseSerialize = withChunkFastPath(fetchModel.responseSerialize);
  submitUpdate.requestSerialize = withChunkFastPath(submitUpdate.requestSerialize);
}
serializeChunksDirectly(definition['flotilla.federation.v1.Federation'] as ServiceDefinition);
const federationPackage = (loadPackageDefinition(definition) as unknown as ProtoGrpcType).flotilla.federation.v1;

/** The Federation service: a client constructor whose `.service` is the server-side definition. */
export const Federation = federationPackage.Federation;
