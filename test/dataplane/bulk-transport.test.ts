/**
 * The bulk transport against a real aggregator over real mutual TLS: what it offers at Join, every
 * refusal of a peer that writes frames by hand (this file's own encoder, any bytes), and a round that
 * still closes on the honest updates, exactly. Then a whole job, run by the client runtime once over
 * bulk connections and once over gRPC: the same model bytes.
 */
import { connect, type TLSSocket } from 'node:tls';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { Federation, type FederationClient, type ModelMessage__Output, type UpdateMessage } from '../../operator/federation/proto.js';
import { specOf, type Model } from '../../operator/federation/model.js';
import { tensorChunks, toWireHeader, type Values } from '../../operator/federation/tensor-stream.js';
import type { UpdateHeader } from '../../operator/federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import { selectSites } from '../../operator/aggregator/selection.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { readTlsFiles } from '../../operator/pki/files.js';
import { AggregatorConnection } from '../../operator/client/connection.js';
import { TaskLoop } from '../../operator/client/task-loop.js';
import { TestPki, codeOf, memoryLogger, rawClient, submit, taskOf, tempDir, testJob, testTrainer } from './fixtures.js';

const SITES = ['a', 'b', 'c'];
/** A seed whose first round selects a and b, leaving c out. */
const SEED = [...Array(1000).keys()].find((s) => selectSites(SITES, 2, s, 1, 0).join() === 'a,b')!;
/** Just over 3 MiB: three full 1 MiB chunks, then a short one. */
const W = 3 * 262_144 + 10;
const HEARTBEAT_TIMEOUT_MS = 3_000;

const filled = (value: number): Model => [
  { name: 'w', shape: [W], data: new Float32Array(W).fill(value) },
  { name: 'b', shape: [5], data: new Float32Array(5).fill(value) },
];

// This file's encoder: frames as bulk-frames.ts documents them, built byte by byte.
const KIND = { CALL: 1, MESSAGE: 2, END: 3, STATUS: 4 };
const METHOD = { FetchModel: 0, SubmitUpdate: 1 };
function frame(kind: number, ...payload: Uint8Array[]): Buffer {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(5);
  head.writeUInt32LE(body.byteLength, 0);
  head[4] = kind;
  return Buffer.concat([head, body]);
}
const fetchCall = (round: number) => frame(KIND.CALL, Buffer.from([METHOD.FetchModel]), Federation.service.FetchModel.requestSerialize({ round }));
const submitCall = () => frame(KIND.CALL, Buffer.from([METHOD.SubmitUpdate]));
const message = (m: UpdateMessage) => frame(KIND.MESSAGE, Federation.service.SubmitUpdate.requestSerialize(m));
/** An update's frames: the call, its header, its chunks, and END unless cut short. */
function updateFrames(header: UpdateHeader, arrays: Values[], end = true): Buffer[] {
  return [
    submitCall(),
    message({ header: { ...header, model: toWireHeader(specOf(filled(0))) }, body: 'header' }),
    ...[...tensorChunks(arrays)].map((chunk) => message({ chunk, body: 'chunk' })),
    ...(end ? [frame(KIND.END)] : []),
  ];
}
const train = (numSamples: number): UpdateHeader => ({ kind: 'TRAIN', round: 1, attempt: 0, numSamples });

interface Heard {
  /** The STATUS the aggregator ended with, if it sent one. */
  status?: { code: number; details: string };
  messages: Buffer[];
  /** Milliseconds from the last frame sent to the connection's close. */
  closedAfterMs: number;
}

/** Opens a bulk connection with a site's TLS folder, sends the frames, and reads frames until the aggregator closes. */
async function bulk(address: string, tlsDir: string, frames: Buffer[], options: { close?: boolean } = {}): Promise<Heard> {
  const tls = await readTlsFiles(tlsDir);
  const [host, port] = address.split(':');
  const socket: TLSSocket = connect({ host, port: Number(port), ca: tls.caPem, key: tls.keyPem, cert: tls.certPem, ALPNProtocols: ['flotilla-bulk/1'], checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  expect(socket.alpnProtocol).toBe('flotilla-bulk/1');
  let received = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  for (const f of frames) if (!socket.write(f)) await new Promise((r) => socket.once('drain', r));
  const sent = Date.now();
  if (options.close) socket.destroy();
  await closed;
  const heard: Heard = { messages: [], closedAfterMs: Date.now() - sent };
  for (let at = 0; at + 5 <= received.byteLength; ) {
    const length = received.readUInt32LE(at);
    const kind = received[at + 4]!;
    const payload = received.subarray(at + 5, at + 5 + length);
    if (kind === KIND.STATUS) heard.status = { code: payload.readUInt32LE(0), details: payload.toString('utf8', 8, 8 + payload.readUInt32LE(4)) };
    else if (kind === KIND.MESSAGE) heard.messages.push(payload);
    at += 5 + length;
  }
  return heard;
}

describe('the bulk transport', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let aggregator: RunningAggregator;
  let pki: TestPki;
  const clients = new Map<string, FederationClient>();
  const tlsDirs = new Map<string, string>();
  const { log, lines } = memoryLogger();

  beforeAll(async () => {
    tmp = await tempDir('bulk');
    pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: SITES }, rounds: 2, minSites: 2, sitesPerRound: 2, seed: SEED }, { heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), metricsListen: '127.0.0.1:0', log });
    for (const site of SITES) {
      tlsDirs.set(site, await pki.client(site));
      clients.set(site, await rawClient(aggregator.ready.address, tlsDirs.get(site)!));
    }
  });

  afterAll(async () => {
    for (const client of clients.values()) client.close();
    await aggregator.close();
    await tmp.remove();
  });

  const address = () => aggregator.ready.address;
  const site = (name: string) => clients.get(name)!;

  it('is offered at Join, on the gRPC port', async () => {
    const joined = await new Promise<{ bulkProtocol: string }>((resolve, reject) => site('a').join({ protocolVersion: 1 }, (err, res) => (err ? reject(err) : resolve(res!))));
    expect(joined.bulkProtocol).toBe('flotilla-bulk/1');
  });

  it('refuses a certificate that is not one of the job’s sites with the status gRPC would give, and one of another CA at the handshake', async () => {
    const otherJob = await pki.client('a-lungs', { identity: { role: 'client', namespace: 'hospitals', job: 'lungs', site: 'a' } });
    expect((await bulk(address(), otherJob, [fetchCall(1)])).status).toEqual({ code: status.PERMISSION_DENIED, details: 'the certificate is for a client of job hospitals/lungs; this aggregator serves job hospitals/heart' });
    expect((await bulk(address(), await pki.client('z'), [fetchCall(1)])).status?.code).toBe(status.PERMISSION_DENIED);
    const otherCa = await pki.client('a-other-ca', { identity: { role: 'client', namespace: 'hospitals', job: 'heart', site: 'a' }, otherCa: true });
    // TLS 1.3: the client's side of the handshake is done before the server refuses its certificate; no call is answered.
    const refusedAtHandshake: Partial<Heard> = await bulk(address(), otherCa, [fetchCall(1)]).catch(() => ({ messages: [] }));
    expect(refusedAtHandshake.status).toBeUndefined();
    expect(refusedAtHandshake.messages).toEqual([]);
  });

  it('answers each frame it cannot take with a status naming it, and closes', async () => {
    const a = tlsDirs.get('a')!;
    const huge = Buffer.alloc(5);
    huge.writeUInt32LE(0xfffffff0, 0);
    huge[4] = KIND.CALL;
    const heard = {
      notACall: (await bulk(address(), a, [frame(KIND.MESSAGE, Buffer.from('hello'))])).status,
      unknownMethod: (await bulk(address(), a, [frame(KIND.CALL, Buffer.from([7]))])).status,
      tooLarge: (await bulk(address(), a, [huge])).status,
      undecodableRequest: (await bulk(address(), a, [frame(KIND.CALL, Buffer.from([METHOD.FetchModel, 0xff, 0xff, 0xff]))])).status,
    };
    expect(heard).toEqual({
      notACall: { code: status.INVALID_ARGUMENT, details: 'the first frame of a bulk connection is a CALL, not kind 2' },
      unknownMethod: { code: status.UNIMPLEMENTED, details: 'method 7 is not one a bulk connection carries (FetchModel, SubmitUpdate)' },
      tooLarge: { code: status.RESOURCE_EXHAUSTED, details: `a frame of ${0xfffffff0} bytes, more than the ${(1 << 20) + (4 << 20)} a frame may hold` },
      undecodableRequest: { code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^the FetchModel request does not decode: /) },
    });
    // A connection that names no call is closed within the heartbeat timeout, without a word.
    const silent = await bulk(address(), a, []);
    expect(silent.status).toBeUndefined();
    expect(silent.closedAfterMs).toBeLessThan(HEARTBEAT_TIMEOUT_MS + 2_000);
  });

  it('holds at most four bulk connections of one site open at once', async () => {
    const c = await readTlsFiles(tlsDirs.get('c')!);
    const [host, port] = address().split(':');
    const open = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const socket = connect({ host, port: Number(port), ca: c.caPem, key: c.keyPem, cert: c.certPem, ALPNProtocols: ['flotilla-bulk/1'], checkServerIdentity: () => undefined });
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', reject);
      });
    // Four that name no call yet (each is held until the heartbeat timeout), then a fifth.
    const held = await Promise.all([open(), open(), open(), open()]);
    await new Promise((r) => setTimeout(r, 200));
    expect((await bulk(address(), tlsDirs.get('c')!, [fetchCall(1)])).status).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: 'too many bulk connections open for this certificate; at most 4 per site',
    });
    for (const socket of held) socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect((await bulk(address(), tlsDirs.get('c')!, [fetchCall(1)])).status?.code).not.toBe(status.RESOURCE_EXHAUSTED);
  });

  it('refuses bad updates with their status codes, and still closes the round on the honest ones, exactly', async () => {
    for (const name of ['a', 'b']) {
      const task = await taskOf(site(name), 'INITIALIZE');
      expect(await submit(site(name), [{ header: { kind: 'INITIALIZE', round: 0, attempt: task.attempt, model: toWireHeader(specOf(filled(0))) }, body: 'header' }, ...[...tensorChunks(filled(0).map((t) => t.data))].map((chunk): UpdateMessage => ({ chunk, body: 'chunk' }))])).toMatchObject({ ok: true });
    }
    await taskOf(site('a'), 'TRAIN');
    const a = tlsDirs.get('a')!;
    const good = filled(1).map((t) => t.data);
    const withNaN = [Float32Array.from(good[0]!, (v, i) => (i === W - 2 ? NaN : v)), good[1]!];
    const oversized = Buffer.alloc(5);
    oversized.writeUInt32LE(64 << 20, 0);
    oversized[4] = KIND.MESSAGE;
    const [call, header] = updateFrames(train(1), good);
    const outcomes = {
      notSelected: (await bulk(address(), tlsDirs.get('c')!, updateFrames(train(1), good))).status?.code,
      nanInTheLastChunk: (await bulk(address(), a, updateFrames(train(1), withNaN))).status?.code,
      frameTooLarge: (await bulk(address(), a, [call!, header!, oversized])).status?.code,
      undecodableMessage: (await bulk(address(), a, [call!, header!, frame(KIND.MESSAGE, Buffer.from([0xff, 0xff, 0xff, 0xff]))])).status?.code,
      aStatusFrameFromTheClient: (await bulk(address(), a, [call!, header!, frame(KIND.STATUS, Buffer.alloc(8))])).status?.code,
      bytesPastTheModel: (await bulk(address(), a, [...updateFrames(train(1), good).slice(0, -1), message({ chunk: { tensor: 1, offset: 20, data: Buffer.alloc(4) }, body: 'chunk' }), frame(KIND.END)])).status?.code,
      endedWithoutEnd: (await bulk(address(), a, updateFrames(train(1), good, false).slice(0, 3), { close: true })).status?.code,
    };
    expect(outcomes).toEqual({
      notSelected: status.FAILED_PRECONDITION,
      nanInTheLastChunk: status.INVALID_ARGUMENT,
      frameTooLarge: status.RESOURCE_EXHAUSTED,
      undecodableMessage: status.INVALID_ARGUMENT,
      aStatusFrameFromTheClient: status.INVALID_ARGUMENT,
      bytesPastTheModel: status.RESOURCE_EXHAUSTED,
      // The client closed its end: it hears nothing; the aggregator drops the update (logged below).
      endedWithoutEnd: undefined,
    });
    const refusedOverBulk = () => lines.filter((l) => l.level === 'warn' && l.method === 'SubmitUpdate' && l.site === 'a').map((l) => l.reason);
    while (refusedOverBulk().length < 6) await new Promise((r) => setTimeout(r, 20));
    expect(refusedOverBulk()).toEqual(['not_finite', 'too_large', 'malformed_stream', 'malformed_stream', 'too_large', 'cut_short']);

    // Honest updates, one over each transport: a weighs 1 with 1s, b 3 with 3s; the mean is 2.5 exactly.
    const honest = await bulk(address(), a, updateFrames(train(1), good));
    expect(honest.status).toEqual({ code: status.OK, details: '' });
    expect(await submit(site('b'), [{ header: { ...train(3), model: toWireHeader(specOf(filled(0))) }, body: 'header' }, ...[...tensorChunks(filled(3).map((t) => t.data))].map((chunk): UpdateMessage => ({ chunk, body: 'chunk' }))])).toMatchObject({ ok: true });
    expect(lines.filter((l) => l.message === 'update accepted' && l.round === 1).map((l) => [l.site, l.transport])).toEqual([
      ['a', 'bulk'],
      ['b', 'grpc'],
    ]);

    const task = await taskOf(site('a'), 'TRAIN');
    expect(task.round).toBe(2);
    const download = await bulk(address(), a, [fetchCall(2)]);
    expect(download.status).toEqual({ code: status.OK, details: '' });
    const messages = download.messages.map((m) => Federation.service.FetchModel.responseDeserialize(m) as ModelMessage__Output);
    expect(messages[0]!.header!.totalBytes).toBe((W + 5) * 4);
    const values = messages.slice(1).flatMap((m) => [...new Float32Array(m.chunk!.data.buffer.slice(m.chunk!.data.byteOffset, m.chunk!.data.byteOffset + m.chunk!.data.byteLength))]);
    expect(values.length).toBe(W + 5);
    expect(values.every((v) => v === 2.5)).toBe(true);

    // A download asked of a round that is not the current one is refused the gRPC way, by status.
    expect((await bulk(address(), a, [fetchCall(1)])).status?.code).toBe(status.FAILED_PRECONDITION);
    expect(await codeOf((done) => site('a').heartbeat({ round: 2, progress: 0 }, done))).toEqual({ code: 0, details: '' });
  }, 60_000);
});

/** A trainer that moves every parameter by a site's own amount: deterministic, so two runs make the same bytes. */
const stepTrainer = (step: number) =>
  testTrainer(
    () => [{ name: 'w', shape: [3 << 20], data: new Float32Array(3 << 20).fill(0.5) }],
    (global) => ({ model: global.map((t) => ({ ...t, data: t.data.map((x) => x + step) })), metrics: { numSamples: 10 + step * 100, loss: 0.4, accuracy: 0.6 } }),
  );

describe('a whole job over the bulk transport', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  beforeAll(async () => {
    tmp = await tempDir('bulk-job');
    pki = await TestPki.create(tmp.dir, 'heart');
  });
  afterAll(() => tmp.remove());

  async function run(name: string, bulkFromBytes: number): Promise<{ model: string; transports: unknown[] }> {
    const { log, lines } = memoryLogger();
    const stateDir = path.join(tmp.dir, name);
    const settings = testJob('heart', { sites: { names: ['a', 'b'] }, rounds: 3, minSites: 2, seed: 7 });
    const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log });
    try {
      const outcomes = await Promise.all(
        ['a', 'b'].map(async (s, i) => {
          const connection = await AggregatorConnection.dial(aggregator.ready.address, await pki.client(s), { namespace: 'hospitals', job: 'heart' }, { bulkFromBytes });
          try {
            return await new TaskLoop(connection, stepTrainer(0.01 * (i + 1)), memoryLogger().log, { clientVersion: 'test', pollMs: 1_000 }).run();
          } finally {
            connection.close();
          }
        }),
      );
      for (const o of outcomes) expect(o).toMatchObject({ succeeded: true });
      await aggregator.outcome;
      const result = JSON.parse(await readFile(path.join(stateDir, 'result.json'), 'utf8')) as JobResult;
      const model = createHash('sha256').update(await readFile(path.join(stateDir, result.model!))).digest('hex');
      return { model, transports: [...new Set(lines.filter((l) => l.message === 'update accepted').map((l) => l.transport))] };
    } finally {
      await aggregator.close();
    }
  }

  it('makes the same model bytes as over gRPC', async () => {
    const overBulk = await run('bulk', 0);
    const overGrpc = await run('grpc', Infinity);
    expect(overBulk.transports).toEqual(['bulk']);
    expect(overGrpc.transports).toEqual(['grpc']);
    expect(overBulk.model).toBe(overGrpc.model);
  }, 120_000);
});
