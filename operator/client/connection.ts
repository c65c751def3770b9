import { credentials, type ServiceError } from '@grpc/grpc-js';
import { Federation, PROTOCOL_VERSION, grpcMessageLimits, type FederationClient } from '../federation/proto.js';
import { readTlsFiles } from '../pki/files.js';
import { expectServer } from '../pki/peer-check.js';
import { receiveModel, tensorChunks, type Values } from '../federation/tensor-stream.js';
import { tensorBytes, type Model, type TensorSpec } from '../federation/model.js';
import type { WireChunk } from '../federation/chunk.js';
import type { Encoding } from '../federation/compression.js';
import type { JoinResponse__Output } from '../federation/generated/flotilla/federation/v1/JoinResponse.js';
import type { Task__Output } from '../federation/generated/flotilla/federation/v1/Task.js';
import type { UpdateHeader } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { UpdateMessage } from '../federation/proto.js';
import { firstEvent } from '../process/first-event.js';
import { faultPoint } from '../process/fault-points.js';
import type { SubmitUpdateResponse__Output } from '../federation/generated/flotilla/federation/v1/SubmitUpdateResponse.js';
import type { SecAggRequest } from '../federation/generated/flotilla/federation/v1/SecAggRequest.js';
import type { SecAggResponse__Output } from '../federation/generated/flotilla/federation/v1/SecAggResponse.js';
import type { MaskedMessage } from '../federation/generated/flotilla/federation/v1/MaskedMessage.js';
import { bytesOf } from '../secagg/wire.js';
import { BULK_PROTOCOL } from '../federation/bulk-frames.js';
import { BulkConnection } from './bulk-connection.js';

/** The client's receive window: a model downloads at full speed (the default 64 KiB halves it). */
const FLOW_CONTROL_WINDOW = 16 << 20;
/** Room beyond a NextTask long poll before the call is given up as lost. */
const POLL_MARGIN_MS = 15_000;
const CALL_TIMEOUT_MS = 30_000;
/**
 * The smallest transfer that takes the bulk transport: below it, the new connection's handshake
 * (a round trip or two, and both certificates) costs more than HTTP/2's framing saves.
 */
export const BULK_FROM_BYTES = 8 << 20;

export interface DialOptions {
  /** Transfers of at least this many bytes take the bulk transport when the aggregator offers it. */
  bulkFromBytes?: number;
}

/**
 * A site's mutual-TLS connection to its job's aggregator, one promise per call. The model and the
 * updates travel on connections of their own (bulk-connection.ts) when the aggregator says at Join
 * that it takes them, over gRPC otherwise.
 */
export class AggregatorConnection {
  /** The bulk transport, once Join said the aggregator takes it: models and updates go there. */
  private bulk: BulkConnection | null = null;

  private constructor(
    private readonly client: FederationClient,
    private readonly bulkTo: () => BulkConnection,
    private readonly bulkFromBytes: number,
  ) {}

  /**
   * Dials with the site's certificate; tlsDir has a TLS Secret's layout (tls.key, tls.crt, ca.crt).
   * The server must be the aggregator of `job`, its certificate signed by the job's CA (ca.crt) itself.
   */
  static async dial(address: string, tlsDir: string, job: { namespace: string; job: string }, options: DialOptions = {}): Promise<AggregatorConnection> {
    const tls = await readTlsFiles(tlsDir);
    const aggregator = { role: 'aggregator' as const, namespace: job.namespace, job: job.job };
    const checkServerIdentity = expectServer(aggregator, tls.caPem, "the job's CA");
    const channel = credentials.createSsl(Buffer.from(tls.caPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem), { checkServerIdentity });
    const client = new Federation(address, channel, {
      ...grpcMessageLimits(),
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
    return new AggregatorConnection(client, () => new BulkConnection(address, tls, checkServerIdentity), options.bulkFromBytes ?? BULK_FROM_BYTES);
  }

  close(): void {
    this.client.close();
  }

  /** The bulk transport for a transfer of `bytes`, or null for gRPC. */
  private bulkFor(bytes: number): BulkConnection | null {
    return bytes >= this.bulkFromBytes ? this.bulk : null;
  }

  async join(clientVersion: string): Promise<JoinResponse__Output> {
    const joined = await new Promise<JoinResponse__Output>((resolve, reject) =>
      this.client.join({ protocolVersion: PROTOCOL_VERSION, clientVersion }, { deadline: deadline(CALL_TIMEOUT_MS) }, (err, res) => (err ? reject(err) : resolve(res!))),
    );
    this.bulk = joined.bulkProtocol === BULK_PROTOCOL ? this.bulkTo() : null;
    return joined;
  }

  nextTask(waitMs: number): Promise<Task__Output> {
    return new Promise((resolve, reject) =>
      this.client.nextTask({ waitMs }, { deadline: deadline(waitMs + POLL_MARGIN_MS) }, (err, res) => (err ? reject(err) : resolve(res!))),
    );
  }

  heartbeat(round: number, progress: number): Promise<boolean> {
    return new Promise((resolve, reject) =>
      this.client.heartbeat({ round, progress }, { deadline: deadline(CALL_TIMEOUT_MS) }, (err, res) => (err ? reject(err) : resolve(res!.roundOpen))),
    );
  }

  /** The round's global model, checked against the tensors the task announced, decoded as the job's downloads are encoded. */
  fetchModel(round: number, expected: readonly TensorSpec[], encoding: Encoding = 'ENCODING_NONE'): Promise<Model> {
    const bulk = this.bulkFor(expected.reduce((n, spec) => n + tensorBytes(spec), 0));
    return receiveModel(bulk ? bulk.fetchModel(round) : this.client.fetchModel({ round }), expected, encoding);
  }

  /** One step of a secure-aggregation round: sends the stage's message (if any), waits up to request.waitMs for the next stage's input. */
  secAgg(request: SecAggRequest): Promise<SecAggResponse__Output> {
    return new Promise((resolve, reject) =>
      this.client.secAgg(request, { deadline: deadline((request.waitMs ?? 0) + POLL_MARGIN_MS) }, (err, res) => (err ? reject(err) : resolve(res!))),
    );
  }

  /** Streams a masked update: its header (figures only), then the words, chunk by chunk, with backpressure. */
  submitMasked(header: UpdateHeader, chunks: Iterable<Uint32Array>): Promise<SubmitUpdateResponse__Output> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const call = this.client.submitMasked((err: ServiceError | null, res?: SubmitUpdateResponse__Output) => {
        settled = true;
        if (err) reject(err);
        else resolve(res!);
      });
      (async () => {
        call.write({ header, body: 'header' } satisfies MaskedMessage);
        let offset = 0;
        for (const words of chunks) {
          if (settled) return;
          if (!call.write({ chunk: { offset, words: bytesOf(words) }, body: 'chunk' } satisfies MaskedMessage)) await firstEvent(call, ['drain', 'close', 'error', 'finish']);
          offset += words.length;
        }
        await faultPoint('masked update streamed');
        call.end();
      })().catch(() => call.cancel());
    });
  }

  /** Streams an update: its header, then the arrays' chunks (views, never copies) or the chunks given, with backpressure. */
  submitUpdate(header: UpdateHeader, arrays: readonly Values[] | readonly WireChunk[]): Promise<SubmitUpdateResponse__Output> {
    const chunks = isChunks(arrays) ? arrays : tensorChunks(arrays);
    const bulk = this.bulkFor(isChunks(arrays) ? arrays.reduce((n, c) => n + c.data.byteLength, 0) : arrays.reduce((n, a) => n + a.byteLength, 0));
    if (bulk) return bulk.submitUpdate(header, chunks);
    return new Promise((resolve, reject) => {
      let settled = false;
      const call = this.client.submitUpdate((err: ServiceError | null, res?: SubmitUpdateResponse__Output) => {
        settled = true;
        if (err) reject(err);
        else void Promise.resolve(faultPoint(`${header.kind} update acknowledged`)).then(() => resolve(res!));
      });
      (async () => {
        call.write({ header, body: 'header' } satisfies UpdateMessage);
        for (const chunk of chunks) {
          // The aggregator answered early (a refusal): nothing more to send.
          if (settled) return;
          if (!call.write({ chunk, body: 'chunk' } satisfies UpdateMessage)) await firstEvent(call, ['drain', 'close', 'error', 'finish']);
        }
        await faultPoint(`${header.kind} update streamed`);
        call.end();
      })().catch(() => call.cancel());
    });
  }
}

function isChunks(arrays: readonly Values[] | readonly WireChunk[]): arrays is readonly WireChunk[] {
  return arrays.length > 0 && 'tensor' in arrays[0]!;
}

function deadline(ms: number): Date {
  return new Date(Date.now() + ms);
}
