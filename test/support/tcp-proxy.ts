import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP relay to the API server that tests can cut, to stand for a network failure between a
 * client and the API server: cut() closes every open connection and refuses new ones (accepts, then
 * resets) until restore(). TLS passes through untouched.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((client) => this.relay(client));
  private severed = false;
  port = 0;
  /** Connections refused while cut: a client's attempts to reconnect. */
  refused = 0;

  private constructor(
    private readonly target: { host: string; port: number },
    /** Each piece of data is held this long each way: a link with latency (a wide-area one). */
    private readonly delayMs = 0,
  ) {}

  static async start(target: { host: string; port: number }, options: { delayMs?: number } = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, options.delayMs);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  /** Closes every open connection; new ones are refused until restore(). */
  cut(): void {
    this.severed = true;
    // destroy(), not resetAndDestroy(): on Node 24 a reset of a piped socket can leave its handle open.
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.severed = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    if (this.severed) {
      this.refused++;
      return void client.resetAndDestroy();
    }
    const upstream = connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined); // 'close' follows and tears down the other side
    }
    if (this.delayMs === 0) {
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
      return;
    }
    // Timers of one delay fire in the order they were set: the bytes keep their order, and a close
    // reaches the other side after the bytes sent before it, as on a real link.
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (data: Buffer) => setTimeout(() => to.destroyed || to.write(data), this.delayMs));
      from.once('close', () => setTimeout(() => to.destroy(), this.delayMs));
    };
    forward(client, upstream);
    forward(upstream, client);
  }
}
