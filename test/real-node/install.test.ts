/**
 * docs/install.md on real nodes: a hub and two hospitals (Cleveland, Hungary), each a cluster with a
 * real kubelet and containerd. The guide's blocks run as written (install-guide.ts): helm installs
 * the hub chart and the site charts, so the operator and the site agents are pods of the charts,
 * containers of the project's image; both sites enrol through the gateway's load-balancer address;
 * the heart-disease job's aggregator (at the hub) and clients (one per hospital, on its own records)
 * are containers too and talk across clusters over the pod network and Services. The job trains to
 * Succeeded; the model on the hub's claim has the checksum its status gives; deleting the job
 * leaves every cluster clean, and the uninstalls leave only what the guide says stays.
 *
 * Storage: the clusters' provisioner (volume-provisioner.ts) plays the default StorageClass the
 * guide asks for. The records are put on each hospital's node at the path its chart names (the
 * one step the guide leaves to the hospital); the nodes share the machine's filesystem.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { JOB_CA_COMPONENT } from '../../operator/hub/pki.js';
import { difference, everyObject } from '../charts/cluster.js';
import { helmBinary, helmEnv } from '../charts/helm.js';
import { GuideRunner, ignoringNamespaceDefaults, whatTheGuideLeaves } from '../charts/install-guide.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { podLogs } from '../support/real-node/pod-logs.js';
import { RealNodes, realNodeSkipReason, type RealCluster } from '../support/real-node/real-nodes.js';

const skip = realNodeSkipReason();
if (skip) console.warn(`test/real-node skipped: ${skip}`);
const describeReal = skip ? describe.skip : describe;

const HOSPITALS = ['cleveland', 'hungarian'] as const;
type Hospital = (typeof HOSPITALS)[number];
// Each check runs kubectl: poll at a pace two shared cores can bear.
const POLL_MS = 500;

describeReal('docs/install.md on real nodes: a hub and two hospitals installed with helm', () => {
  let nodes: RealNodes;
  let hub: RealCluster;
  const hospitals = new Map<Hospital, RealCluster>();
  let guide: GuideRunner;
  let workDir: string;
  const baselines = new Map<string, Set<string>>();
  const beforeJob = new Map<string, Set<string>>();
  const timings: Record<string, number> = {};
  const timed = async (name: string, work: () => Promise<void>) => {
    const t0 = Date.now();
    await work();
    timings[name] = Date.now() - t0;
  };
  const all = () => [hub, ...hospitals.values()];
  const jobCaSecrets = async () =>
    (await hub.kubectl(['get', 'secrets', '--all-namespaces', `--selector=app.kubernetes.io/component=${JOB_CA_COMPONENT}`, '--output=jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}']))
      .split(' ')
      .filter(Boolean);

  beforeAll(async () => {
    const t0 = Date.now();
    nodes = await RealNodes.start();
    const [h, ...sites] = await Promise.all(['hub', ...HOSPITALS].map((name) => nodes.cluster(name)));
    hub = h!;
    HOSPITALS.forEach((name, i) => hospitals.set(name, sites[i]!));
    timings['3 clusters up'] = Date.now() - t0;

    workDir = await mkdtemp(path.join(tmpdir(), 'flotilla-real-install-'));
    await symlink(path.join(packageRoot, 'charts'), path.join(workDir, 'charts'));
    for (const cluster of all()) baselines.set(cluster.name, await everyObject(cluster.controlPlane));
    // The one step the guide leaves to each hospital: its records on its node, where its chart says.
    for (const name of HOSPITALS) {
      const folder = await nodes.hostFolder(`/srv/records/${name}`);
      await copyFile(path.join(packageRoot, `examples/heart-disease/data/processed.${name}.data`), path.join(folder, 'heart.csv'));
    }
    guide = new GuideRunner({
      workDir,
      binDirs: [await resolveBinDir(), path.dirname(await helmBinary())],
      env: helmEnv(),
      kubeconfigs: Object.fromEntries(all().map((c) => [c.name, c.controlPlane.kubeconfigPath])),
      diagnostics: () => podLogs(all()),
    });
  }, 30 * 60_000);

  afterAll(async () => {
    if (process.env.FLOTILLA_GUIDE_TRANSCRIPT) process.stdout.write(guide?.transcript.join('\n') ?? '');
    const t0 = Date.now();
    await nodes?.stop();
    timings['3 clusters down'] = Date.now() - t0;
    if (workDir) await rm(workDir, { recursive: true, force: true });
    console.log(`real-node install: ${JSON.stringify(timings)}`);
  }, 5 * 60_000);

  test('1. The hub: helm installs the operator, a container of the image on the hub node, which leads behind the gateway\'s load balancer', async () => {
    await timed('1. hub', () => guide.runSection('1. The hub'));
    const pod = await onlyPod(hub, 'flotilla-system', 'app.kubernetes.io/component=operator');
    expect(pod.spec.nodeName).toBe(hub.nodeName);
    expect(pod.spec.containers[0].image).toBe(nodes.image.name);
    expect(ready(pod)).toBe(true);
    // Ready is not leading: the old pod of the upgrade handed the Lease over as it stopped, and the
    // new one takes it at its next try.
    const holder = () => hub.kubectl(['get', 'lease', 'flotilla-operator', '--namespace=flotilla-system', '--output=jsonpath={.spec.holderIdentity}']);
    await eventually(async () => (await holder()) === pod.metadata.name, 30_000, 'the operator pod to lead', POLL_MS);
    // And marks its pod, which the gateway Service selects.
    const label = () => hub.kubectl(['get', 'pod', pod.metadata.name, '--namespace=flotilla-system', "--output=jsonpath={.metadata.labels['flotilla\\.dev/leader']}"]);
    await eventually(async () => (await label()) === 'true', 30_000, 'the leader to label its pod', POLL_MS);
    const gateway = await hub.kubectl(['get', 'service', 'flotilla-gateway', '--namespace=flotilla-system', '--output=jsonpath={.status.loadBalancer.ingress[0].ip}']);
    // The hub node's kube-proxy forwards the gateway's address to the operator's pod.
    expect(await hub.onNode('nft', ['list', 'table', 'ip', 'kube-proxy'])).toContain(gateway);
  }, 5 * 60_000);

  test('2. Admitting a hospital: each join bundle names the gateway\'s load-balancer address', async () => {
    await timed('2. sites', () => guide.runSection('2. Admitting a hospital'));
    const gateway = await hub.kubectl(['get', 'service', 'flotilla-gateway', '--namespace=flotilla-system', '--output=jsonpath={.status.loadBalancer.ingress[0].ip}']);
    for (const name of HOSPITALS) {
      const bundle = JSON.parse(Buffer.from((await readFile(path.join(workDir, `${name}.join`), 'utf8')).trim(), 'base64').toString());
      expect(bundle).toMatchObject({ site: name, hub: `${gateway}:7443`, enrollment: `${gateway}:7444` });
    }
  }, 5 * 60_000);

  test('3. At the hospital: each site chart\'s agent, a container on its hospital\'s node, enrols across clusters and connects', async () => {
    await timed('3. hospitals', () => guide.runSection('3. At the hospital'));
    for (const [name, site] of hospitals) {
      const agent = await onlyPod(site, 'flotilla', 'app.kubernetes.io/component=site-agent');
      expect(agent.spec.nodeName).toBe(site.nodeName);
      expect(agent.spec.containers[0].image).toBe(nodes.image.name);
      const status = JSON.parse(await hub.kubectl(['get', 'site', name, '--output=json'])).status;
      expect(status).toMatchObject({ enrolled: true });
      // Its key was made at the hospital and stays on the agent's own claim there.
      const identity = JSON.parse(await readFile(path.join(site.claimFolder('flotilla', 'flotilla-site-agent-state'), 'agent.json'), 'utf8'));
      expect(identity).toMatchObject({ site: name, keyPem: expect.stringContaining('PRIVATE KEY') });
    }
  }, 5 * 60_000);

  test('4. A job: the aggregator and both clients run as containers and train over the pod network to Succeeded', async () => {
    for (const cluster of all()) beforeJob.set(cluster.name, await objectsOf(cluster));
    const seen: Record<string, { node: string; image: string; ip: string }> = {};
    const job = guide.runSection('4. A job');
    job.catch(() => undefined); // awaited below
    await timed('4. job', async () => {
      const aggregator = await runningPod(hub, 'cardiology', 'app.kubernetes.io/component=aggregator');
      seen.aggregator = { node: aggregator.spec.nodeName, image: aggregator.spec.containers[0].image, ip: aggregator.status.podIP };
      for (const [name, site] of hospitals) {
        const client = await runningPod(site, 'flotilla', 'flotilla.dev/job=heart-disease');
        seen[name] = { node: client.spec.nodeName, image: client.spec.containers[0].image, ip: client.status.podIP };
      }
      await job;
    });
    expect(seen).toEqual({
      aggregator: { node: hub.nodeName, image: nodes.image.name, ip: expect.stringMatching(/^10\.211\.1\./) },
      cleveland: { node: hospitals.get('cleveland')!.nodeName, image: nodes.image.name, ip: expect.stringMatching(/^10\.211\.2\./) },
      hungarian: { node: hospitals.get('hungarian')!.nodeName, image: nodes.image.name, ip: expect.stringMatching(/^10\.211\.3\./) },
    });
    const { status } = JSON.parse(await hub.kubectl(['get', 'federatedjob', 'heart-disease', '--namespace=cardiology', '--output=json']));
    expect(status).toMatchObject({ phase: 'Succeeded', round: 5 });
    expect(status.sites.map((s: { name: string; lastRound: number }) => [s.name, s.lastRound])).toEqual([
      ['cleveland', 5],
      ['hungarian', 5],
    ]);
    expect(status.latestMetrics.accuracy).toBeGreaterThan(0.6);
    // The job's own issuing CA is kept in the operator's namespace, not in the tenant's.
    const uid = await hub.kubectl(['get', 'federatedjob', 'heart-disease', '--namespace=cardiology', '--output=jsonpath={.metadata.uid}']);
    expect(await jobCaSecrets()).toEqual([`flotilla-system/flotilla-job-ca-${uid}`]);
  }, 15 * 60_000);

  test('5. Where the model ends up: the file on the hub\'s checkpoint claim has the checksum the status gives', async () => {
    await guide.runSection('5. Where the model ends up');
    const { status } = JSON.parse(await hub.kubectl(['get', 'federatedjob', 'heart-disease', '--namespace=cardiology', '--output=json']));
    expect(status.model.location).toBe('pvc://cardiology/heart-disease-checkpoints/model.safetensors');
    const model = await readFile(path.join(hub.claimFolder('cardiology', 'heart-disease-checkpoints'), 'model.safetensors'));
    expect(createHash('sha256').update(model).digest('hex')).toBe(status.model.sha256);
  });

  test('6. Taking it down: deleting the job cleans every cluster; the uninstalls leave only what the guide says stays', async () => {
    const [deleteJob, ...rest] = guide.section('6. Taking it down');
    expect(deleteJob!.code).toContain('delete federatedjob');
    await timed('6. delete job', () => guide.run(deleteJob!));
    await eventually(async () => (await jobCaSecrets()).length === 0, 60_000, "the job's CA to go with it", POLL_MS);
    // Nothing of the job is left anywhere: every cluster holds what it held before the job.
    const sinceJob = async () => Object.fromEntries(await Promise.all(all().map(async (c) => [c.name, difference(beforeJob.get(c.name)!, await objectsOf(c))])));
    const unchanged = Object.fromEntries(all().map((c) => [c.name, { added: [], removed: [] }]));
    let last: unknown;
    await eventually(async () => JSON.stringify((last = await sinceJob())) === JSON.stringify(unchanged), 120_000, 'the job to leave nothing', POLL_MS).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last, null, 2)}`);
    });

    await timed('6. uninstall', async () => {
      for (const block of rest) await guide.runEverywhere(block);
    });
    const expected = whatTheGuideLeaves(HOSPITALS);
    const left = async () =>
      Object.fromEntries(await Promise.all(all().map(async (c) => [c.name, ignoringNamespaceDefaults(difference(baselines.get(c.name)!, await objectsOf(c)))])));
    await eventually(async () => JSON.stringify((last = await left())) === JSON.stringify(expected), 120_000, 'only what the guide says stays', POLL_MS).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last, null, 2)}`);
    });
    // No container of ours is left on any node.
    for (const cluster of all()) expect(await cluster.kubectl(['get', 'pods', '--all-namespaces', '--output=name'])).toBe('');
  }, 10 * 60_000);
});

const objectsOf = (cluster: RealCluster) => everyObject(cluster.controlPlane);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Pod = any;
const ready = (pod: Pod) => pod.status.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') === true;

/** The one pod matching the selector (after a rollout: no old one terminating). */
async function onlyPod(cluster: RealCluster, namespace: string, selector: string): Promise<Pod> {
  let pods: Pod[] = [];
  await eventually(
    async () => {
      pods = JSON.parse(await cluster.kubectl(['get', 'pods', `--namespace=${namespace}`, `--selector=${selector}`, '--output=json'])).items;
      return pods.length === 1 && ready(pods[0]);
    },
    120_000,
    `one ready pod ${selector} in ${cluster.name}/${namespace}`,
    POLL_MS,
  );
  return pods[0];
}

/** The first pod matching the selector once it is Running (a controller makes it: wait for it to appear). */
async function runningPod(cluster: RealCluster, namespace: string, selector: string): Promise<Pod> {
  let pod: Pod;
  await eventually(
    async () => {
      const list = JSON.parse(await cluster.kubectl(['get', 'pods', `--namespace=${namespace}`, `--selector=${selector}`, '--output=json']));
      pod = list.items.find((p: Pod) => p.status.phase === 'Running');
      return pod !== undefined;
    },
    180_000,
    `a Running pod ${selector} in ${cluster.name}/${namespace}`,
    POLL_MS,
  );
  return pod;
}
