/**
 * A site agent's failures reach the hub: against two real control planes (the hub's, with the
 * gateway in this process; the hospital's, kwok playing kubelet).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { AssignmentStatus } from '../../operator/sitelink/assignment.js';
import { siteStatus } from '../../operator/hub/controllers/site-status.js';
import { eventually } from '../support/eventually.js';
import { startTestCluster, type TestCluster } from '../support/test-cluster.js';
import { createLogger } from '../../operator/log.js';
import { clientObjectNames } from '../../operator/site/client-objects.js';
import { startSiteAgent } from '../../operator/site/main.js';
import { parsePolicy } from '../../operator/site/policy.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { agentNamespace, applySite, assignment, bindPendingPods, startHub, type TestHub } from './support.js';

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
    const { bundle } = await hub.tokens.issue('haugesund', 600);
    const agent = await startSiteAgent({
      joinBundle: async () => bundle,
      namespace: NS,
      stateDir: await stateDir(),
      kubeconfig,
      policy: parsePolicy({}),
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
    // What the hub's Site controller writes from that session says it too.
    const status = siteStatus({ site: hub.sites.get('haugesund')!, session: hub.sessions.get('haugesund'), now: new Date() });
    expect(status.jobs).toEqual([{ namespace: 'cardiology', name: 'heart', phase: 'Pending', message }]);

    await siteCluster.kubectl(['delete', 'resourcequota', 'no-pods', '-n', NS]);
    await eventually(() => reported('haugesund', 'heart')?.phase === 'Running', 90_000, 'the client to run once the quota is gone');
  });
});
