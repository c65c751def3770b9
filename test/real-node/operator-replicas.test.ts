/**
 * The hub chart with two operator replicas on a real node: both report ready once their caches are
 * synced, so `helm install --wait` and a rolling `helm upgrade --wait` complete; the leader labels
 * its pod and the gateway Service's endpoints are that pod alone; when the leader's pod goes, the
 * other replica takes the Lease and the label, and the endpoints follow it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { helmBinary, helmOk } from '../charts/helm.js';
import { eventually } from '../support/eventually.js';
import { RealNodes, realNodeSkipReason, type RealCluster } from '../support/real-node/real-nodes.js';

const skip = realNodeSkipReason();
if (skip) console.warn(`test/real-node skipped: ${skip}`);
const describeReal = skip ? describe.skip : describe;

const NS = 'flotilla-system';
const POLL_MS = 500;

interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}

describeReal('two operator replicas on a real node: ready when synced, the gateway at the leader', () => {
  let nodes: RealNodes;
  let hub: RealCluster;
  const helm = (args: string[]) => helmOk(args, { kubeconfig: hub.controlPlane.kubeconfigPath });
  const pods = async (): Promise<Pod[]> =>
    JSON.parse(await hub.kubectl(['get', 'pods', `--namespace=${NS}`, '--selector=app.kubernetes.io/component=operator', '--output=json'])).items;
  const holder = () => hub.kubectl(['get', 'lease', 'flotilla-operator', `--namespace=${NS}`, '--output=jsonpath={.spec.holderIdentity}']);
  const gatewayEndpoints = async () =>
    (
      await hub.kubectl([
        'get',
        'endpointslices',
        `--namespace=${NS}`,
        '--selector=kubernetes.io/service-name=flotilla-gateway',
        '--output=jsonpath={.items[*].endpoints[*].targetRef.name}',
      ])
    )
      .split(' ')
      .filter(Boolean);
  /** The leader as the Lease, the pods' labels and the gateway's endpoints each see it. */
  const leaderSeen = async () => {
    const labelled = (await pods()).filter((p) => p.metadata.labels['flotilla.dev/leader'] === 'true').map((p) => p.metadata.name);
    return { lease: await holder(), labelled, endpoints: await gatewayEndpoints() };
  };
  const oneLeader = async (not?: string) => {
    let seen: Awaited<ReturnType<typeof leaderSeen>> | undefined;
    await eventually(
      async () => {
        seen = await leaderSeen();
        return !!seen.lease && seen.lease !== not && JSON.stringify(seen.labelled) === JSON.stringify([seen.lease]) && JSON.stringify(seen.endpoints) === JSON.stringify([seen.lease]);
      },
      90_000,
      'one leader, labelled, alone behind the gateway',
      POLL_MS,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
    });
    return seen!.lease;
  };

  beforeAll(async () => {
    await helmBinary();
    nodes = await RealNodes.start();
    hub = await nodes.cluster('hub');
    await hub.kubectl(['create', 'namespace', NS]);
    await hub.kubectl(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted']);
  }, 30 * 60_000);
  afterAll(() => nodes?.stop(), 5 * 60_000);

  test('helm install --wait completes with both replicas ready; only the leader is behind the gateway', async () => {
    const t0 = Date.now();
    await helm(['install', 'flotilla', path.join(packageRoot, 'charts/flotilla'), '--namespace', NS, '--set', 'operator.replicas=2', '--wait', '--timeout=180s']);
    console.log(`helm install --wait with 2 replicas: ${Date.now() - t0} ms`);
    const all = await pods();
    expect(all.map((p) => p.status.conditions?.find((c) => c.type === 'Ready')?.status)).toEqual(['True', 'True']);
    await oneLeader();
  }, 5 * 60_000);

  test('the leader\'s pod goes: the other replica takes the Lease, the label and the endpoints', async () => {
    const first = await oneLeader();
    const t0 = Date.now();
    await hub.kubectl(['delete', 'pod', first, `--namespace=${NS}`, '--wait=false']);
    const second = await oneLeader(first);
    console.log(`leader ${first} deleted: ${second} leads behind the gateway after ${Date.now() - t0} ms`);
    expect(second).not.toBe(first);
  }, 5 * 60_000);

  test('a rolling helm upgrade --wait completes, and one leader is left behind the gateway', async () => {
    const t0 = Date.now();
    await helm(['upgrade', 'flotilla', path.join(packageRoot, 'charts/flotilla'), '--namespace', NS, '--reuse-values', '--set', 'operator.logLevel=debug', '--wait', '--timeout=180s']);
    console.log(`helm upgrade --wait with 2 replicas: ${Date.now() - t0} ms`);
    await eventually(async () => (await pods()).length === 2, 90_000, 'the old pods gone', POLL_MS);
    await oneLeader();
  }, 5 * 60_000);
});
