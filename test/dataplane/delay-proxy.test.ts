import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/eventually.js';

/** The benchmarks' WAN link (bench/delay-proxy.ts), built: what a connection through it receives. */
const proxyScript = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bench/delay-proxy.js');

describe('the delay proxy of the WAN benchmark', () => {
  let dir: string;
  let server: net.Server;
  let proxy: ChildProcess;
  let port = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'delay-proxy-'));
    // As the aggregator answers a bulk call: everything written, then its end; the socket closes
    // as soon as the far side's end comes back.
    server = net.createServer((socket) => {
      socket.on('data', () => undefined);
      socket.end(Buffer.alloc(8 << 20, 7));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ready = path.join(dir, 'ready.json');
    proxy = spawn(process.execPath, [proxyScript, `127.0.0.1:${(server.address() as AddressInfo).port}`, '40', ready], { stdio: 'inherit' });
    await eventually(async () => {
      port = (JSON.parse(await readFile(ready, 'utf8')) as { port: number }).port;
      return port > 0;
    });
  });

  afterAll(async () => {
    proxy.kill('SIGKILL');
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers every byte a server sent before it ended and closed, an RTT later, then the end', async () => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = 0;
    socket.on('data', (d: Buffer) => (received += d.length));
    const ended = await new Promise<boolean>((resolve) => {
      socket.once('end', () => resolve(true));
      socket.once('close', () => resolve(false));
    });
    expect({ ended, received }).toEqual({ ended: true, received: 8 << 20 });
    // The connection's SYN, the data's way back: at least one round trip of 40 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(40);
    socket.destroy();
  });
});
