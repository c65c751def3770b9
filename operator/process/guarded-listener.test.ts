/**
 * The guarded listener against real sockets: a grpc-js server with mutual TLS behind it still
 * serves calls (and sees the caller's certificate), while connections that never finish their
 * handshake are closed at their deadline and bounded per address and in all.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createCertificateAuthority, type CertificateAuthority } from '../pki/ca.js';
import { generateKeyPair } from '../pki/keys.js';
import { identityOfPeer } from '../pki/identity.js';
import { listenGuarded, type GuardedListener, type HandshakeBounds } from './guarded-listener.js';

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
};
const service: grpc.ServiceDefinition = {
  whoAmI: {
    path: '/flotilla.test.v1.Identity/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const Client = grpc.makeGenericClientConstructor(service, 'Identity');

/** The first bytes of a TLS ClientHello record: a handshake begun and never finished. */
const PARTIAL_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

async function keyAndChain(ca: CertificateAuthority, usage: 'client' | 'server') {
  const key = await generateKeyPair();
  const identity = usage === 'server' ? { role: 'aggregator' as const, namespace: 'ns', job: 'j' } : { role: 'client' as const, namespace: 'ns', job: 'j', site: 'a' };
  const chain = await ca.issue({ identity, ...(usage === 'server' ? { ipAddresses: ['127.0.0.1'] } : {}), publicKey: key.publicKeyPem, validSeconds: 600, usage });
  return { key: Buffer.from(key.privateKeyPem), chain: Buffer.from(chain) };
}

/** Resolves with whether the socket was closed by the other end within ms. */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.on('error', () => resolve(s));
    s.resume();
  });
}

describe('a gRPC server behind the guarded listener', () => {
  let ca: CertificateAuthority;
  let server: grpc.Server;
  let listener: GuardedListener;
  let client: grpc.Client | undefined;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: 'guarded listener test', validDays: 1 });
  });
  afterEach(() => {
    client?.close();
    client = undefined;
    sockets.splice(0).forEach((s) => s.destroy());
    listener?.close();
    server?.forceShutdown();
  });

  async function serve(bounds: HandshakeBounds): Promise<number> {
    const own = await keyAndChain(ca, 'server');
    server = new grpc.Server();
    server.addService(service, {
      whoAmI: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, identityOfPeer(call.getAuthContext().sslPeerCertificate)),
    });
    const credentials = grpc.ServerCredentials.createSsl(Buffer.from(ca.anchorPem), [{ private_key: own.key, cert_chain: own.chain }], true);
    listener = await listenGuarded(server, credentials, { host: '127.0.0.1', port: 0 }, bounds);
    return listener.port;
  }

  async function whoAmI(port: number): Promise<unknown> {
    const mine = await keyAndChain(ca, 'client');
    client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.anchorPem), mine.key, mine.chain));
    const c = client as unknown as { whoAmI(req: unknown, cb: (err: Error | null, res: unknown) => void): void };
    return new Promise((resolve, reject) => c.whoAmI({}, (err, res) => (err ? reject(err) : resolve(res))));
  }

  it('serves mutual-TLS calls, the caller known by its certificate, and keeps the connection past the deadline', async () => {
    const port = await serve({ pending: 4, perAddress: 4, deadlineMs: 300 });
    expect(await whoAmI(port)).toEqual({ role: 'client', namespace: 'ns', job: 'j', site: 'a' });
    await new Promise((r) => setTimeout(r, 600));
    // The same channel's connection outlived the handshake deadline: it no longer counts as pending.
    expect(await whoAmI(port)).toEqual({ role: 'client', namespace: 'ns', job: 'j', site: 'a' });
    expect(listener.pending()).toBe(0);
  });

  it('closes a connection that never sends a ClientHello, or stalls in it, at the deadline', async () => {
    const port = await serve({ pending: 16, perAddress: 16, deadlineMs: 500 });
    const silent = await open(port);
    const stalled = await open(port);
    stalled.write(PARTIAL_CLIENT_HELLO);
    sockets.push(silent, stalled);
    await expect(Promise.all([closedWithin(silent, 10_000), closedWithin(stalled, 10_000)])).resolves.toEqual([true, true]);
    expect(listener.pending()).toBe(0);
  });

  it('holds at most perAddress handshakes of one address and pending of all, closing the oldest first', async () => {
    const port = await serve({ pending: 6, perAddress: 3, deadlineMs: 60_000 });
    const first = [];
    for (let i = 0; i < 3; i++) first.push(await open(port, '127.0.0.2'));
    // Wait until the listener counts them, so what comes next is newer.
    while (listener.pending() < 3) await new Promise((r) => setTimeout(r, 10));
    const fourth = await open(port, '127.0.0.2');
    sockets.push(...first, fourth);
    expect(await closedWithin(first[0]!, 5_000)).toBe(true);
    expect(await closedWithin(fourth, 300)).toBe(false);
    while (listener.pending() < 3) await new Promise((r) => setTimeout(r, 10));
    // Three more addresses, two each: six pending in all, then a seventh closes the oldest (of 127.0.0.2).
    for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) {
      for (let i = 0; i < 2; i++) sockets.push(await open(port, from));
    }
    expect(await closedWithin(first[1]!, 5_000)).toBe(true);
    while (listener.pending() < 6) await new Promise((r) => setTimeout(r, 10));
    expect(listener.pending()).toBe(6);
    // An honest caller still gets in: its handshake only ever closes the oldest pending one.
    expect(await whoAmI(port)).toEqual({ role: 'client', namespace: 'ns', job: 'j', site: 'a' });
  });
});
