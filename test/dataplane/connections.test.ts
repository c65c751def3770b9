/**
 * What a peer may hold open at the aggregator: HTTP/2 sessions opened by hand (node:http2 with a
 * site's real certificate, no gRPC client), left idle or opened by the dozen, sessions of a job-CA
 * certificate for a site the job does not list, and downloads never read. The honest site keeps
 * being served throughout.
 */
import http2, { type ClientHttp2Session } from 'node:http2';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import { readTlsFiles } from '../../operator/pki/files.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import { TestPki, codeOf, memoryLogger, nextTask, rawClient, submit, tempDir, testJob } from './fixtures.js';

const IDLE_MS = 2_000;
/** 8 MiB: a download no one reads stalls at the aggregator with its chunks queued. */
const W = 2 << 20;

/** An HTTP/2 session over mutual TLS with a site's certificate, and when it closed (if it did). */
async function session(address: string, tlsDir: string): Promise<{ session: ClientHttp2Session; closed: Promise<number> }> {
  const tls = await readTlsFiles(tlsDir);
  const opened = Date.now();
  const s = http2.connect(`https://${address}`, { key: tls.keyPem, cert: tls.certPem, ca: tls.caPem, servername: 'localhost' });
  s.on('error', () => {});
  const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now() - opened)));
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  return { session: s, closed };
}

/**
 * FetchModel as raw HTTP/2: the request framed by hand (gRPC's 5-byte prefix around the protobuf
 * FetchModelRequest {round}), then either read to its end (`read`) or left unread. `status` is the
 * call's grpc-status.
 */
function fetchByHand(s: ClientHttp2Session, round: number, read = false): { stream: http2.ClientHttp2Stream; status: Promise<number> } {
  const stream = s.request({ ':method': 'POST', ':path': '/flotilla.federation.v1.Federation/FetchModel', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  const message = Buffer.from([0x08, round]); // field 1 (round), varint
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  stream.end(frame);
  if (read) stream.on('data', () => {});
  else stream.pause();
  const status = new Promise<number>((resolve) => {
    stream.on('response', (headers) => headers['grpc-status'] !== undefined && resolve(Number(headers['grpc-status'])));
    stream.on('trailers', (trailers) => resolve(Number(trailers['grpc-status'])));
    stream.on('close', () => resolve(-1));
  });
  return { stream, status };
}

const within = (closed: Promise<number>, ms: number) => Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('connections to the aggregator', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let aggregator: RunningAggregator;
  let a: FederationClient;
  let b: FederationClient;

  beforeAll(async () => {
    tmp = await tempDir('connections');
    pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: ['a', 'b'] }, rounds: 1, minSites: 1 }, { deadlineMs: 120_000, heartbeatTimeoutMs: IDLE_MS });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log: memoryLogger().log });
    a = await rawClient(aggregator.ready.address, await pki.client('a'));
    b = await rawClient(aggregator.ready.address, await pki.client('b'));
  });

  afterAll(async () => {
    a.close();
    b.close();
    await aggregator.close();
    await tmp.remove();
  });

  it('closes a session that makes no call, once it was idle for the heartbeat timeout', async () => {
    const { closed } = await session(aggregator.ready.address, await pki.client('a'));
    expect(await within(closed, IDLE_MS * 3)).toBe(true);
    expect(await closed).toBeGreaterThanOrEqual(IDLE_MS - 100);
  });

  it('closes at once the sessions of a job certificate for a site the job does not list, after the refusal', async () => {
    const z = await pki.client('z');
    const unlisted = await rawClient(aggregator.ready.address, z);
    expect((await codeOf((done) => unlisted.join({ protocolVersion: 1 }, done))).code).toBe(status.PERMISSION_DENIED);
    unlisted.close();
    const { closed } = await session(aggregator.ready.address, z);
    expect(await within(closed, IDLE_MS - 500)).toBe(true);
  });

  it('keeps no more than a few sessions per site, and serves the other sites meanwhile', async () => {
    const tls = await pki.client('a');
    const sessions = await Promise.all(Array.from({ length: 12 }, () => session(aggregator.ready.address, tls)));
    await new Promise((r) => setTimeout(r, 300));
    const open = sessions.filter((s) => !s.session.closed && !s.session.destroyed).length;
    expect(open).toBeLessThanOrEqual(4);
    expect(await codeOf((done) => b.join({ protocolVersion: 1 }, done))).toEqual({ code: status.OK, details: '' });
    for (const s of sessions) s.session.destroy();
  });
});

describe('downloads nobody reads', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let aggregator: RunningAggregator;
  let a: FederationClient;
  let b: FederationClient;
  const tls = new Map<string, string>();

  beforeAll(async () => {
    tmp = await tempDir('downloads');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: ['a', 'b'] }, rounds: 1, minSites: 1 }, { deadlineMs: 120_000, heartbeatTimeoutMs: 60_000 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log: memoryLogger().log });
    for (const site of ['a', 'b']) tls.set(site, await pki.client(site));
    a = await rawClient(aggregator.ready.address, tls.get('a')!);
    b = await rawClient(aggregator.ready.address, tls.get('b')!);
  });

  afterAll(async () => {
    a.close();
    b.close();
    await aggregator.close();
    await tmp.remove();
  });

  it('are at most two per site at a time, and a cancelled one frees its place', async () => {
    const task = await nextTask(a);
    expect(task.kind).toBe('INITIALIZE');
    const data = Buffer.from(new Float32Array(W).fill(0.5).buffer);
    const messages: UpdateMessage[] = [{ header: { kind: 'INITIALIZE', round: 0, attempt: task.attempt, model: { tensors: [{ name: 'w', dtype: 'F32', shape: [W] }], totalBytes: W * 4 } }, body: 'header' }];
    for (let offset = 0; offset < data.length; offset += 1 << 20) messages.push({ chunk: { tensor: 0, offset, data: data.subarray(offset, offset + (1 << 20)) }, body: 'chunk' });
    expect(await submit(a, messages)).toMatchObject({ ok: true });
    let train = await nextTask(a);
    while (train.kind === 'WAIT') train = await nextTask(a);
    expect(train.kind).toBe('TRAIN');

    // Downloads opened by hand on one HTTP/2 session and never read: HTTP/2's flow control stalls
    // each at the aggregator with its chunks queued, and each holds its place until it is cancelled.
    const { session: raw } = await session(aggregator.ready.address, tls.get('a')!);
    const first = fetchByHand(raw, 1);
    const second = fetchByHand(raw, 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await fetchByHand(raw, 1, true).status).toBe(status.RESOURCE_EXHAUSTED);
    // Another site is not held to a's downloads.
    expect(await fetchByHand((await session(aggregator.ready.address, tls.get('b')!)).session, 1, true).status).toBe(status.OK);
    first.stream.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((r) => setTimeout(r, 300));
    expect(await fetchByHand(raw, 1, true).status).toBe(status.OK);
    second.stream.close(http2.constants.NGHTTP2_CANCEL);
    raw.destroy();
  });
});
