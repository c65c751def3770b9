import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { FRAME, FrameError, FrameReader, parseStatus, statusPayload, writeFrame } from './bulk-frames.js';

/** Both ends of a real loopback TCP connection. */
async function socketPair(): Promise<{ client: Socket; server: Socket; close(): void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as { port: number };
  const client = connect(port, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  await once(client, 'connect');
  return { client, server, close: () => (client.destroy(), server.destroy(), listener.close()) };
}

const frameBytes = (kind: number, payload: Buffer) => {
  const head = Buffer.alloc(5);
  head.writeUInt32LE(payload.byteLength, 0);
  head[4] = kind;
  return Buffer.concat([head, payload]);
};

describe('bulk frames', () => {
  it('reads frames written in any pieces, byte by byte too, in order', async () => {
    const { client, server, close } = await socketPair();
    try {
      const reader = new FrameReader(server, 1 << 20);
      const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300_000, 7), Buffer.from('last')];
      const bytes = Buffer.concat(payloads.map((p, i) => frameBytes(i + 1, p)));
      // The first 40 bytes one at a time, each its own write, then the rest at once.
      for (let i = 0; i < 40; i++) {
        client.write(bytes.subarray(i, i + 1));
        await new Promise((r) => setImmediate(r));
      }
      client.end(bytes.subarray(40));
      const got = [];
      for (let f = await reader.next(); f; f = await reader.next()) got.push(f);
      expect(got.map((f) => f.kind)).toEqual([1, 2, 3, 4]);
      expect(got.map((f) => f.payload)).toEqual(payloads);
    } finally {
      close();
    }
  });

  it('refuses a frame past the bound from its header alone, and a connection that ends inside a frame', async () => {
    const { client, server, close } = await socketPair();
    try {
      const reader = new FrameReader(server, 1000);
      const head = Buffer.alloc(5);
      head.writeUInt32LE(1001, 0);
      client.write(head);
      await expect(reader.next()).rejects.toEqual(new FrameError('too_large', 'a frame of 1001 bytes, more than the 1000 a frame may hold'));
    } finally {
      close();
    }
    const second = await socketPair();
    try {
      const reader = new FrameReader(second.server, 1000);
      second.client.end(frameBytes(FRAME.MESSAGE, Buffer.alloc(10)).subarray(0, 9));
      await expect(reader.next()).rejects.toMatchObject({ reason: 'truncated' });
    } finally {
      second.close();
    }
  });

  it('pauses the socket while a frame waits to be taken', async () => {
    const { client, server, close } = await socketPair();
    try {
      const reader = new FrameReader(server, 1 << 20);
      client.write(frameBytes(FRAME.MESSAGE, Buffer.alloc(100)));
      await new Promise((r) => setTimeout(r, 50));
      expect(server.isPaused()).toBe(true);
      await reader.next();
      expect(server.isPaused()).toBe(false);
    } finally {
      close();
    }
  });

  it('writes a frame from parts, and a STATUS reads back as written', async () => {
    const { client, server, close } = await socketPair();
    try {
      const reader = new FrameReader(server, 1 << 20);
      await writeFrame(client, FRAME.MESSAGE, Buffer.from('pre'), new Uint8Array([1, 2, 3]));
      await writeFrame(client, FRAME.STATUS, ...statusPayload(3, 'bad ünïcode', Buffer.from('resp')));
      expect(await reader.next()).toEqual({ kind: FRAME.MESSAGE, payload: Buffer.from([0x70, 0x72, 0x65, 1, 2, 3]) });
      const status = parseStatus((await reader.next())!.payload);
      expect(status).toEqual({ code: 3, details: 'bad ünïcode', response: Buffer.from('resp') });
      expect(() => parseStatus(Buffer.alloc(4))).toThrow(FrameError);
    } finally {
      close();
    }
  });
});
