/**
 * The client's end of the bulk transport (../federation/bulk-frames.ts): the model download and the
 * update upload, each on a mutual-TLS connection of its own to the aggregator's gRPC port, under
 * ALPN BULK_PROTOCOL, with the same certificates and the same check of the server as the gRPC
 * channel. A refusal reaches the caller as grpc-js's would: an Error with the status `code` and
 * `details`, so the task loop treats both transports alike.
 */
import { connect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { Metadata, status } from '@grpc/grpc-js';
import { Federation, maxMessageBytes, type ModelMessage__Output, type UpdateMessage } from '../federation/proto.js';
import { BULK_METHODS, BULK_PROTOCOL, FRAME, FrameReader, parseStatus, writeFrame, type BulkMethod } from '../federation/bulk-frames.js';
import { chunkMessagePrefix } from '../federation/chunk-codec.js';
import type { WireChunk } from '../federation/chunk.js';
import type { UpdateHeader } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { SubmitUpdateResponse__Output } from '../federation/generated/flotilla/federation/v1/SubmitUpdateResponse.js';
import type { PeerCertificate } from 'node:tls';
import type { TlsFiles } from '../pki/files.js';
import { parseAddress } from '../process/address.js';
import { faultPoint } from '../process/fault-points.js';

/** A connection silent this long (no byte either way) is given up: the aggregator is gone. */
const IDLE_TIMEOUT_MS = 60_000;

const fetchModel = Federation.service.FetchModel;
const submitUpdate = Federation.service.SubmitUpdate;

/** A call's failure, shaped as grpc-js's ServiceError. */
export class BulkCallError extends Error {
  readonly metadata = new Metadata();

  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(`${code} ${status[code]}: ${details}`);
    this.name = 'BulkCallError';
  }
}

const methodByte = (method: BulkMethod) => Buffer.from([BULK_METHODS.indexOf(method)]);

export class BulkConnection {
  private readonly host: string;
  private readonly port: number;

  constructor(
    address: string,
    private readonly tls: TlsFiles,
    private readonly checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined,
  ) {
    ({ host: this.host, port: this.port } = parseAddress(address));
  }

  /** The round's model messages, as FetchModel streams them; a refusal is thrown as its status. */
  async *fetchModel(round: number): AsyncGenerator<ModelMessage__Output> {
    const socket = await this.open();
    try {
      const reader = new FrameReader(socket, maxMessageBytes());
      await writeFrame(socket, FRAME.CALL, methodByte('FetchModel'), fetchModel.requestSerialize({ round }));
      for (;;) {
        const frame = await next(reader);
        if (frame.kind === FRAME.MESSAGE) {
          yield fetchModel.responseDeserialize(frame.payload) as ModelMessage__Output;
        } else if (frame.kind === FRAME.STATUS) {
          const answer = parseStatus(frame.payload);
          if (answer.code !== status.OK) throw new BulkCallError(answer.code, answer.details);
          return;
        } else {
          throw new BulkCallError(status.INTERNAL, `the aggregator sent a frame of kind ${frame.kind} in a download`);
        }
      }
    } finally {
      socket.destroy();
    }
  }

  /**
   * Streams an update (its header, then the chunks, their data sent from where it lies) and
   * resolves with the aggregator's answer. An early answer (a refusal) stops the sending.
   */
  async submitUpdate(header: UpdateHeader, chunks: Iterable<WireChunk>): Promise<SubmitUpdateResponse__Output> {
    const socket = await this.open();
    try {
      const reader = new FrameReader(socket, maxMessageBytes());
      let answered = false;
      const answer = (async () => {
        for (;;) {
          const frame = await next(reader);
          if (frame.kind === FRAME.STATUS) return parseStatus(frame.payload);
          throw new BulkCallError(status.INTERNAL, `the aggregator sent a frame of kind ${frame.kind} during an upload`);
        }
      })().finally(() => (answered = true));
      // Its rejection is awaited below; until then it must not count as unhandled.
      answer.catch(() => undefined);
      await writeFrame(socket, FRAME.CALL, methodByte('SubmitUpdate'));
      await writeFrame(socket, FRAME.MESSAGE, submitUpdate.requestSerialize({ header, body: 'header' } satisfies UpdateMessage));
      for (const chunk of chunks) {
        if (answered) break;
        await writeFrame(socket, FRAME.MESSAGE, chunkMessagePrefix(chunk), chunk.data);
      }
      if (!answered) {
        await faultPoint(`${header.kind} update streamed`);
        await writeFrame(socket, FRAME.END);
      }
      const { code, details, response } = await answer;
      if (code !== status.OK) throw new BulkCallError(code, details);
      await faultPoint(`${header.kind} update acknowledged`);
      return submitUpdate.responseDeserialize(response) as SubmitUpdateResponse__Output;
    } finally {
      socket.destroy();
    }
  }

  private open(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: this.host,
        port: this.port,
        ...(isIP(this.host) ? {} : { servername: this.host }),
        ca: this.tls.caPem,
        key: this.tls.keyPem,
        cert: this.tls.certPem,
        ALPNProtocols: [BULK_PROTOCOL],
        checkServerIdentity: this.checkServerIdentity,
      });
      socket.setNoDelay(true);
      socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy(new Error(`no byte from the aggregator for ${IDLE_TIMEOUT_MS / 1000}s`)));
      const failed = (err: Error) => reject(new BulkCallError(status.UNAVAILABLE, `bulk connection to ${this.host}:${this.port}: ${err.message}`));
      socket.once('error', failed);
      socket.once('secureConnect', () => {
        socket.off('error', failed);
        socket.on('error', () => undefined);
        if (socket.alpnProtocol !== BULK_PROTOCOL) {
          socket.destroy();
          return reject(new BulkCallError(status.UNAVAILABLE, `the aggregator at ${this.host}:${this.port} did not take ${BULK_PROTOCOL}`));
        }
        resolve(socket);
      });
    });
  }
}

/** The next frame; a connection that ended or broke without a STATUS is UNAVAILABLE, as a lost gRPC call. */
async function next(reader: FrameReader) {
  let frame;
  try {
    frame = await reader.next();
  } catch (err) {
    throw new BulkCallError(status.UNAVAILABLE, `the bulk connection broke: ${(err as Error).message}`);
  }
  if (!frame) throw new BulkCallError(status.UNAVAILABLE, 'the aggregator closed the bulk connection before answering');
  return frame;
}
