/**
 * A site agent's failures reach the hub, and a revoked site's agent stops: against two real control
 * planes (the hub's, with the gateway in this process; the hospital's, kwok playing kubelet).
 * Revocation runs `flotilla site-agent` as a process of this checkout's build, so that its exit
 * code, its log and its dialling (counted by a relay in front of the gateway) are what is asserted.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../../operator/api/crds.js';
import type { AssignmentStatus } from '../../operator/sitelink/assignment.js';
import { siteStatus } from '../../operator/hub/controllers/site-status.js';
import { JoinTokens } from '../../operator/hub/join-tokens.js';
import { kubeRequest } from '../../operator/kube/request.js';
import { eventually } from '../support/eventually.js';
import { startTestCluster, type TestCluster } from '../support/test-cluster.js';
import { createLogger } from '../../operator/log.js';
import { clientObjectNames, MANAGED_SELECTOR, type Pod } from '../../operator/site/client-objects.js';
import { startSiteAgent } from '../../operator/site/main.js';
import { parsePolicy } from '../../operator/site/policy.js';
import { REVOCATION_FILE } from '../../operator/site/revocation.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { agentNamespace, applySite, assignment, bindPendingPods, FreezableProxy, OPERATOR_NS, startHub, type TestHub } from './support.js';

jest.setTimeout(180_000);

const NODE = 'site-node';

let hubCluster: TestCluster;
let siteCluster: ControlPlane;
let siteKc: KubeConfig;
let hub: TestHub;
let stopScheduler: (() => void) | undefined;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  [hubCluster, siteCluster] = await Promise.all([startTestCluster('hub-failures'), startControlPlane({ name: 'site-failures', fakeNodes: [NODE] })]);
  siteKc = new KubeConfig();
  siteKc.loadFromString(siteCluster.kubeconfig);
  hub = await startHub(hubCluster.kc);
  await hubCluster.controlPlane.kubectl(['create', 'namespace', 'cardiology']);
  stopScheduler = bindPendingPods(siteCluster, NODE);
});
afterAll(async () => {
  stopScheduler?.();
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await hub?.stop();
  await Promise.all([hubCluster?.stop(), siteCluster?.stop()]);
});

const reported = (site: string, job: string): AssignmentStatus | undefined => hub.sessions.get(site)?.assignments.find((a) => a.job === job);

async function newSite(name: string): Promise<void> {
  await applySite(hubCluster.controlPlane.kubectl, name);
  await eventually(() => hub.sites.get(name) !== undefined, 10_000, `Site ${name} in the cache`);
}

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The client objects the agent made in its namespace (pods being deleted left out). */
async function clientObjects(namespace: string): Promise<string[]> {
  const names: string[] = [];
  for (const plural of ['pods', 'secrets', 'configmaps']) {
    const list = await kubeRequest<{ items: Pod[] }>(siteKc, { method: 'GET', path: `/api/v1/namespaces/${namespace}/${plural}`, query: { labelSelector: MANAGED_SELECTOR } });
    names.push(...list.items.filter((o) => !o.metadata?.deletionTimestamp).map((o) => `${plural}/${o.metadata!.name}`));
  }
  return names.sort();
}

describe("the site agent's failures", () => {
  test("a client pod the hospital's quota refuses: the hub hears why, in the site API server's words, until the quota goes", async () => {
    const NS = 'flotilla-quota';
    await newSite('haugesund');
    const kubeconfig = await agentNamespace(siteCluster, NS);
    await siteCluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-pods', namespace: NS }, spec: { hard: { pods: '0' } } }));
    // No kube-controller-manager at this hospital: write the usage its quota controller would.
    const usage = JSON.stringify({ status: { hard: { pods: '0' }, used: { pods: '0' } } });
    await siteCluster.kubectl(['patch', 'resourcequota', 'no-pods', '-n', NS, '--subresource=status', '--type=merge', '-p', usage]);

    const log = createLogger('site-agent-quota');
    log.level = 'error';
    const { bundle } = await hub.issueToken('haugesund', 600);
    const agent = await startSiteAgent({
      joinBundle: async () => bundle,
      namespace: NS,
      stateDir: await stateDir(),
      kubeconfig,
      policy: parsePolicy({ allowedJobNamespaces: ['cardiology'], allowedImages: ['ghcr.io/flotilla/**'], trainers: { builtin: true } }),
      siteDataClaim: 'site-data',
      backoff: { baseMs: 200, maxMs: 1_000 },
      keepalive: { timeMs: 1_000, timeoutMs: 1_000 },
      log,
    });
    cleanup.push(() => agent.stop());
    hub.assignments.set('haugesund', [assignment('heart')]);

    const pod = clientObjectNames({ namespace: 'cardiology', job: 'heart' }).pod;
    const message = `the site's API server refused Pod ${NS}/${pod}: pods "${pod}" is forbidden: exceeded quota: no-pods, requested: pods=1, used: pods=0, limited: pods=0`;
    await eventually(() => reported('haugesund', 'heart')?.message === message, 20_000, 'the refusal reported to the hub');
    expect(reported('haugesund', 'heart')!.phase).toBe('Pending');
    // What the hub's Site controller writes from that session counts it (the message is the job's, above).
    const status = siteStatus({ site: hub.sites.get('haugesund')!, session: hub.sessions.get('haugesund'), now: new Date() });
    expect(status).toMatchObject({ reportedJobs: 1, runningJobs: 0, refusedJobs: 0 });

    await siteCluster.kubectl(['delete', 'resourcequota', 'no-pods', '-n', NS]);
    await eventually(() => reported('haugesund', 'heart')?.phase === 'Running', 90_000, 'the client to run once the quota is gone');
  });
});

describe('a revoked site', () => {
  interface Run {
    code: Promise<number | null>;
    lines(): Record<string, unknown>[];
  }

  /** `flotilla site-agent` as a process; its JSON log lines as they come. */
  function siteAgent(args: string[]): Run {
    const child = spawn(process.execPath, [join(packageRoot, 'dist/operator/cli/main.js'), 'site-agent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
    cleanup.push(async () => child.exitCode === null && child.kill('SIGKILL'));
    const code = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const lines = () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { code, lines };
  }

  const within = <T>(p: Promise<T>, ms: number, what: string) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms))]);

  test('its agent says so once, removes its clients, stops dialling and exits 3; started again, it does not dial at all', async () => {
    const NS = 'flotilla-revoked';
    await newSite('bodo');
    const kubeconfig = await agentNamespace(siteCluster, NS);
    const state = await stateDir();
    // The agent reaches the gateway through a relay that counts its connections.
    const relay = await FreezableProxy.start(hub.ports.main);
    cleanup.push(() => relay.close());
    const tokens = new JoinTokens({
      kc: hubCluster.kc,
      namespace: OPERATOR_NS,
      gatewayAddress: `127.0.0.1:${relay.port}`,
      enrollmentAddress: `127.0.0.1:${hub.ports.enrollment}`,
      caPem: hub.pki.siteCa().certPem,
    });
    const bundleFile = join(state, '..', `${NS}.bundle`);
    await writeFile(bundleFile, (await tokens.issue({ name: 'bodo', uid: hub.sites.get('bodo')!.metadata.uid! }, 600)).bundle);
    const policyFile = join(state, '..', `${NS}.policy.json`);
    await writeFile(policyFile, JSON.stringify({ allowedJobNamespaces: ['cardiology'], allowedImages: ['ghcr.io/flotilla/**'], trainers: { builtin: true } }));
    cleanup.push(() => rm(bundleFile, { force: true }), () => rm(policyFile, { force: true }));
    hub.assignments.set('bodo', [assignment('heart')]);

    const first = siteAgent([`--namespace=${NS}`, `--state-dir=${state}`, `--join=${bundleFile}`, `--kubeconfig=${kubeconfig}`, `--policy=${policyFile}`]);
    await eventually(() => reported('bodo', 'heart')?.phase === 'Running', 60_000, 'the client to run');
    expect(await clientObjects(NS)).toHaveLength(3);

    await hubCluster.controlPlane.kubectl(['patch', 'site', 'bodo', '--type=merge', '-p', '{"spec":{"revoked":true}}']);
    expect(await within(first.code, 30_000, 'the agent to exit')).toBe(3);
    const dialled = relay.connections;

    const revocations = first.lines().filter((l) => String(l.message).startsWith('the hub revoked this site'));
    expect(revocations).toEqual([expect.objectContaining({ level: 'error', site: 'bodo', reason: expect.stringMatching(/site bodo is revoked/) })]);
    expect(first.lines().filter((l) => String(l.message).includes('reconnecting'))).toEqual([]);
    expect(JSON.parse(await readFile(join(state, REVOCATION_FILE), 'utf8'))).toMatchObject({ site: 'bodo', reason: expect.stringMatching(/revoked/) });
    expect(await clientObjects(NS)).toEqual([]);

    // Started again (a restarted pod): it says the same once and exits, without dialling the hub.
    const again = siteAgent([`--namespace=${NS}`, `--state-dir=${state}`, `--join=${bundleFile}`, `--kubeconfig=${kubeconfig}`]);
    expect(await within(again.code, 30_000, 'the restarted agent to exit')).toBe(3);
    expect(again.lines().filter((l) => l.level === 'error')).toEqual([expect.objectContaining({ message: expect.stringMatching(/^the hub revoked this site/), site: 'bodo' })]);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(relay.connections).toBe(dialled);
  });
});
