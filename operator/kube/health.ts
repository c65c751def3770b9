import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  /** Where to listen; port 0 picks a free one. Default host 0.0.0.0 (probes come from the kubelet). */
  listen: { host?: string; port: number };
  registry: Registry;
  /** true when ready; false or a reason (shown in the 503 body) when not. */
  readyz: () => boolean | string;
  /** More checks answered the same way, by path ('/leaderz'). */
  extra?: Record<string, () => boolean | string>;
}

export interface HealthServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** /healthz (the process answers), /readyz (it should get traffic), /metrics (Prometheus). */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const checks = new Map(Object.entries({ ...options.extra, '/readyz': options.readyz }));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const reply = (code: number, body: string, contentType = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'Content-Type': contentType }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    const check = checks.get(path);
    if (check) {
      let ready: boolean | string;
      try {
        ready = check();
      } catch (error) {
        ready = `${path.slice(1)} check failed: ${error instanceof Error ? error.message : String(error)}`;
      }
      if (ready === true) return reply(200, 'ok\n');
      return reply(503, `${ready === false ? 'not ready' : ready}\n`);
    }
    switch (path) {
      case '/healthz':
        return reply(200, 'ok\n');
      case '/metrics':
        options.registry.metrics().then(
          (text) => reply(200, text, options.registry.contentType),
          (error: unknown) => reply(500, `${error instanceof Error ? error.message : String(error)}\n`),
        );
        return;
      default:
        return reply(404, 'not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    address: { host: address, port },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
