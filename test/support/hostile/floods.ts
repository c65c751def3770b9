/**
 * What an attacker piles onto a server to exhaust it: idle TCP connections, TLS sessions that never
 * speak HTTP/2, HTTP/2 sessions that never call, downloads never read, uploads trickled a byte at a
 * time, and handshakes that fail. Each flood holds what it opened until released, and counts what the
 * server closed on its own.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readTlsFiles } from '../../../operator/pki/files.js';
import { parseAddress } from '../../../operator/process/address.js';
import { fetchModelRequest } from './federation-wire.js';
import { frame, HostileChannel, type HostileCall } from './grpc-wire.js';

export interface Flood {
  /** What was opened (connections, sessions or streams). */
  opened: number;
  /** How many of them the server has closed or refused so far. */
  closedByServer(): number;
  release(): void;
}

const target = parseAddress;

function socketFlood(sockets: Socket[]): Flood {
  let closed = 0;
  for (const s of sockets) {
    s.on('error', () => {});
    // Closed while the flood was still opening (a handshake the server dropped): its close is past.
    if (s.destroyed) {
      closed++;
      continue;
    }
    s.once('close', () => closed++);
    // Read (and drop) what the server sends: a paused socket would never see the server close it.
    s.resume();
  }
  return { opened: sockets.length, closedByServer: () => closed, release: () => sockets.forEach((s) => s.destroy()) };
}

/** TCP connections that never send a byte, from each of `from` (local addresses, such as 127.0.0.2) in turn. */
export async function idleTcp(address: string, n: number, from: string[] = []): Promise<Flood> {
  const { host, port } = target(address);
  const sockets = await Promise.all(
    Array.from({ length: n }, (_, i) => new Promise<Socket>((resolve) => {
      const s = tcpConnect({ port, host, ...(from.length > 0 ? { localAddress: from[i % from.length] } : {}) }, () => resolve(s));
      s.once('error', () => resolve(s));
    })),
  );
  return socketFlood(sockets);
}

/** TLS sessions with a listed site's certificate that never send the HTTP/2 preface. */
export async function idleTls(address: string, tlsDir: string, n: number): Promise<Flood> {
  const { host, port } = target(address);
  const files = await readTlsFiles(tlsDir);
  const sockets = await Promise.all(
    Array.from({ length: n }, () => new Promise<Socket>((resolve) => {
      const s = tlsConnect({ host, port, key: files.keyPem, cert: files.certPem, ca: files.caPem, servername: 'localhost', ALPNProtocols: ['h2'] }, () => resolve(s));
      s.once('error', () => resolve(s));
    })),
  );
  return socketFlood(sockets);
}

/** HTTP/2 sessions with a listed site's certificate that never make a call. */
export async function idleSessions(address: string, tlsDir: string, n: number): Promise<Flood> {
  const channels: HostileChannel[] = [];
  let refused = 0;
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => HostileChannel.connect(address, { tlsDir }).catch(() => null)));
    for (const c of batch) {
      if (c) channels.push(c);
      else refused++;
    }
  }
  return { opened: n, closedByServer: () => refused + channels.filter((c) => !c.alive).length, release: () => channels.forEach((c) => c.close()) };
}

/** FetchModel streams of a round opened and never read, `perSession` on each session. */
export async function unreadDownloads(address: string, tlsDir: string, round: number, n: number, perSession = 50): Promise<Flood> {
  const channels: HostileChannel[] = [];
  const calls: HostileCall[] = [];
  for (let i = 0; i < n; i++) {
    if (i % perSession === 0) channels.push(await HostileChannel.connect(address, { tlsDir }));
    const call = channels.at(-1)!.open('FetchModel');
    call.stopReading();
    await call.write(frame(fetchModelRequest(round)));
    call.end();
    calls.push(call);
  }
  return { opened: n, closedByServer: () => calls.filter((c) => c.answered).length, release: () => channels.forEach((c) => c.close()) };
}

/**
 * SubmitUpdate streams, one per session, each trickling its header frame a byte per interval: a
 * sender slow enough never to finish, fast enough never to look idle at the TCP level.
 */
export async function slowSenders(address: string, tlsDir: string, header: Uint8Array, n: number, intervalMs = 200): Promise<Flood> {
  const channels: HostileChannel[] = [];
  const calls: HostileCall[] = [];
  const bytes = frame(header);
  for (let i = 0; i < n; i++) {
    const channel = await HostileChannel.connect(address, { tlsDir });
    channels.push(channel);
    calls.push(channel.open('SubmitUpdate'));
  }
  let at = 0;
  const timer = setInterval(() => {
    if (at >= bytes.length) return;
    for (const call of calls) void call.write(bytes.subarray(at, at + 1));
    at++;
  }, intervalMs);
  return {
    opened: n,
    closedByServer: () => calls.filter((c) => c.answered).length,
    release: () => {
      clearInterval(timer);
      channels.forEach((c) => c.close());
    },
  };
}

/** Handshakes that fail (a certificate of another CA, or bytes that are not TLS), `concurrency` at a time. */
export async function badHandshakes(address: string, otherCaTlsDir: string, n: number, concurrency = 50): Promise<Flood> {
  const { host, port } = target(address);
  const files = await readTlsFiles(otherCaTlsDir);
  let failed = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const s: Socket =
        i % 2 === 0
          ? tlsConnect({ host, port, key: files.keyPem, cert: files.certPem, ca: files.caPem, servername: 'localhost', ALPNProtocols: ['h2'] })
          : tcpConnect(port, host, () => s.write(Buffer.alloc(512, 0x16)));
      s.on('error', () => {});
      s.once('close', () => {
        failed++;
        resolve();
      });
      // A TLS client learns of a refused certificate after its own handshake; give it that long.
      setTimeout(() => s.destroy(), 2_000);
    });
  for (let i = 0; i < n; i += concurrency) await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, (_, k) => one(i + k)));
  return { opened: n, closedByServer: () => failed, release: () => {} };
}
