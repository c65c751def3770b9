/**
 * `flotilla site-agent --listen-health`: /healthz answers from the start (enrolment may wait for
 * the hub), /readyz only while the agent is enrolled and holds its stream to the hub. Against a real
 * hub control plane with the gateway in this process, the agent as a process of this checkout's build.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { JoinTokens } from '../../operator/hub/join-tokens.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { startTestCluster, type TestCluster } from '../support/test-cluster.js';
import { agentNamespace, applySite, FreezableProxy, freePort, OPERATOR_NS, startHub, type TestHub } from './support.js';

jest.setTimeout(180_000);

let hubCluster: TestCluster;
let siteCluster: ControlPlane;
let hub: TestHub;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  [hubCluster, siteCluster] = await Promise.all([startTestCluster('hub-agent-health'), startControlPlane({ name: 'site-agent-health' })]);
  hub = await startHub(hubCluster.kc);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await hub?.stop();
  await Promise.all([hubCluster?.stop(), siteCluster?.stop()]);
});

/**
 * A relay from a port chosen beforehand to a target port (the enrolment endpoint, opened late).
 * Closing it ends the connections it carries: the agent may keep its enrolment channel open.
 */
function relay(port: number, target: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ close })));
}

describe('the site agent\'s health endpoints', () => {
  test('healthy while it waits to enrol; ready once it holds its stream to the hub, not ready when the link is gone', async () => {
    const NS = 'flotilla-health';
    await applySite(hubCluster.controlPlane.kubectl, 'tromso');
    await eventually(() => hub.sites.get('tromso') !== undefined, 10_000, 'Site tromso in the cache');
    const kubeconfig = await agentNamespace(siteCluster, NS);
    const state = await mkdtemp(join(tmpdir(), 'flotilla-agent-health-'));
    cleanup.push(() => rm(state, { recursive: true, force: true }));
    // Nothing listens at the bundle's enrolment address yet; the gateway is behind a relay we can close.
    const [enrollmentPort, healthPort] = [await freePort(), await freePort()];
    const gateway = await FreezableProxy.start(hub.ports.main);
    cleanup.push(() => gateway.close());
    const tokens = new JoinTokens({
      kc: hubCluster.kc,
      namespace: OPERATOR_NS,
      gatewayAddress: `127.0.0.1:${gateway.port}`,
      enrollmentAddress: `127.0.0.1:${enrollmentPort}`,
      caPem: hub.pki.siteCa().certPem,
    });
    const bundleFile = join(state, 'bundle');
    await writeFile(bundleFile, (await tokens.issue({ name: 'tromso', uid: hub.sites.get('tromso')!.metadata.uid! }, 600)).bundle);

    const child = spawn(
      process.execPath,
      [
        join(packageRoot, 'dist/operator/cli/main.js'),
        'site-agent',
        `--namespace=${NS}`,
        `--state-dir=${join(state, 'agent')}`,
        `--join=${bundleFile}`,
        `--kubeconfig=${kubeconfig}`,
        `--listen-health=127.0.0.1:${healthPort}`,
      ],
      { stdio: 'ignore' },
    );
    cleanup.push(async () => child.exitCode === null && child.kill('SIGKILL'));
    const get = (path: string) =>
      fetch(`http://127.0.0.1:${healthPort}${path}`).then(
        async (r) => ({ status: r.status, body: (await r.text()).trim() }),
        () => undefined,
      );

    await eventually(async () => (await get('/healthz'))?.status === 200, 30_000, 'the agent to answer /healthz', 100);
    expect(await get('/readyz')).toEqual({ status: 503, body: 'enrolling with the hub or starting' });

    const enrollment = await relay(enrollmentPort, hub.ports.enrollment);
    cleanup.push(() => enrollment.close());
    await eventually(async () => (await get('/readyz'))?.status === 200, 90_000, 'the agent to be ready once enrolled and connected', 200);
    expect(hub.sessions.get('tromso')).toBeDefined();

    await gateway.close();
    await eventually(async () => (await get('/readyz'))?.body === 'not connected to the hub', 60_000, 'the agent not ready once its link is gone', 200);
    expect((await get('/healthz'))?.status).toBe(200);
    expect((await get('/metrics'))?.body).toContain('flotilla_site_agent_process_cpu_seconds_total');
  });
});
