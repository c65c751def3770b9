import { describe, expect, test } from '@jest/globals';
import { Counter, Registry } from 'prom-client';

import { startHealthServer } from './health.js';

describe('startHealthServer', () => {
  test('serves /healthz, /readyz with the reason when not ready, and the registry at /metrics', async () => {
    const registry = new Registry();
    new Counter({ name: 'flotilla_test_total', help: 'a test counter', registers: [registry] }).inc(3);
    let ready: boolean | string = 'standby: the leader is operator-0';
    const server = await startHealthServer({ listen: { host: '127.0.0.1', port: 0 }, registry, readyz: () => ready });
    const base = `http://${server.address.host}:${server.address.port}`;
    try {
      const get = async (path: string) => {
        const res = await fetch(base + path);
        return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
      };
      expect(await get('/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
      expect(await get('/readyz')).toMatchObject({ status: 503, body: 'standby: the leader is operator-0\n' });
      ready = false;
      expect(await get('/readyz')).toMatchObject({ status: 503, body: 'not ready\n' });
      ready = true;
      expect(await get('/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
      const metrics = await get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.type).toContain('text/plain');
      expect(metrics.body).toContain('flotilla_test_total 3');
      expect((await get('/nope')).status).toBe(404);
    } finally {
      await server.close();
    }
    await expect(fetch(base + '/healthz')).rejects.toThrow();
  });

  test('answers further checks by path the same way (the operator\'s /leaderz)', async () => {
    let leading: boolean | string = 'not the leader (standby)';
    const server = await startHealthServer({
      listen: { host: '127.0.0.1', port: 0 },
      registry: new Registry(),
      readyz: () => true,
      extra: { '/leaderz': () => leading },
    });
    const get = async (path: string) => {
      const res = await fetch(`http://${server.address.host}:${server.address.port}${path}`);
      return { status: res.status, body: await res.text() };
    };
    try {
      expect(await get('/readyz')).toEqual({ status: 200, body: 'ok\n' });
      expect(await get('/leaderz')).toEqual({ status: 503, body: 'not the leader (standby)\n' });
      leading = true;
      expect(await get('/leaderz')).toEqual({ status: 200, body: 'ok\n' });
    } finally {
      await server.close();
    }
  });
});
