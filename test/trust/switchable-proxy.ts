/**
 * A TCP relay whose target can change, standing for whoever controls the network between a site
 * and its hub: pointed at a fake hub, every new connection reaches the fake one. Each upstream
 * connection can leave from a local address of its own (127.0.0.x), so that the gateway sees many
 * peers.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export class SwitchableProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((client) => this.relay(client));
  /** Connections relayed so far. */
  connections = 0;
  port = 0;

  private constructor(
    private targetPort: number,
    private readonly localAddresses: string[] = [],
  ) {}

  /** localAddresses: upstream connections leave from each in turn (default: the system's choice). */
  static async start(targetPort: number, localAddresses: string[] = []): Promise<SwitchableProxy> {
    const proxy = new SwitchableProxy(targetPort, localAddresses);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  /** New connections go to `port`; open ones are cut, so that their peers dial again. */
  pointAt(port: number): void {
    this.targetPort = port;
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const localAddress = this.localAddresses[this.connections++ % Math.max(this.localAddresses.length, 1)];
    const upstream = connect({ port: this.targetPort, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => this.sockets.delete(socket));
    }
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  }
}
