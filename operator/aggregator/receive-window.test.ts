import type { Http2Server, Http2Session } from 'node:http2';
import { Server, ServerCredentials, credentials, type ServiceError } from '@grpc/grpc-js';
import { Federation } from '../federation/proto.js';
import { createLogger } from '../log.js';
import { raiseReceiveWindow, receiveWindowFor } from './receive-window.js';

describe('receiveWindowFor', () => {
  it('gives a few sites 4 MiB each and keeps many within the budget', () => {
    expect(receiveWindowFor(4)).toBe(4 << 20);
    expect(receiveWindowFor(10) * 10).toBeLessThanOrEqual(32 << 20);
    expect(receiveWindowFor(100)).toBe(Math.floor((32 << 20) / 100));
    expect(receiveWindowFor(100_000)).toBe(64 << 10);
  });
});

describe('raiseReceiveWindow', () => {
  it('raises the stream and connection windows of a grpc-js server (it breaks loudly if grpc-js moves its internals)', async () => {
    const server = new Server();
    expect(raiseReceiveWindow(server, 4 << 20, createLogger('test'))).toBe(true);
    server.addService(Federation.service, {
      Join: (_call: unknown, callback: (err: null, res: object) => void) => callback(null, { protocolVersion: 1 }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    // Reading the session back needs grpc-js's list of its http2 servers: test-only knowledge.
    const sessions: Http2Session[] = [];
    for (const http2Server of (server as unknown as { http2Servers: Map<Http2Server, unknown> }).http2Servers.keys()) {
      http2Server.on('session', (s: Http2Session) => sessions.push(s));
    }
    const client = new Federation(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      await new Promise<void>((resolve, reject) => client.join({ protocolVersion: 1 }, (err: ServiceError | null) => (err ? reject(err) : resolve())));
      // The session that carried the call. A loaded machine can make the client give up on a first
      // connection and dial again (CI saw it once): that one's session is destroyed and has no state.
      const live = sessions.filter((s) => !s.destroyed);
      expect(live).toHaveLength(1);
      expect(live[0]!.localSettings.initialWindowSize).toBe(4 << 20);
      // The connection window, less the few bytes of the call itself.
      expect(live[0]!.state.localWindowSize).toBeGreaterThan((4 << 20) - 1024);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
