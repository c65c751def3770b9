/**
 * A federation on real nodes: a hub and two hospitals, each a cluster with a real kubelet and
 * containerd. The operator (at the hub) and the site agents (at the hospitals) run as processes of
 * this checkout; what they make runs as containers of the project's image: the aggregator
 * Deployment at the hub behind a LoadBalancer Service, and each hospital's client pod, which dials
 * that Service's address across clusters over mutual TLS and trains on the hospital's records from
 * its own volume. The job ends Succeeded; its model is the file on the hub's checkpoint volume.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { eventually } from '../support/eventually.js';
import { freePort, startOperator, type OperatorProcess } from '../support/operator-process.js';
import { RealNodes, realNodeSkipReason, type RealCluster } from '../support/real-node/real-nodes.js';
import { HEART_TRAINER } from '../support/heart-trainer.js';

const skip = realNodeSkipReason();
if (skip) console.warn(`test/real-node skipped: ${skip}`);
const describeReal = skip ? describe.skip : describe;

const OPERATOR_NAMESPACE = 'flotilla-system';
const JOB_NAMESPACE = 'research';
const SITE_NAMESPACE = 'flotilla-site';
// Each check runs kubectl: poll at a pace two shared cores can bear.
const POLL_MS = 500;
const HOSPITALS = { cleveland: 'processed.cleveland.data', hungarian: 'processed.hungarian.data' } as const;
type Hospital = keyof typeof HOSPITALS;

describeReal('a federation on real nodes: hub and two hospitals', () => {
  let nodes: RealNodes;
  let hub: RealCluster;
  const sites = new Map<Hospital, RealCluster>();
  const agents: ChildProcess[] = [];
  let operator: OperatorProcess;
  let checkpoints: string;

  beforeAll(async () => {
    nodes = await RealNodes.start();
    const t0 = Date.now();
    const [h, ...s] = await Promise.all(['hub', ...Object.keys(HOSPITALS)].map((name) => nodes.cluster(name)));
    hub = h!;
    Object.keys(HOSPITALS).forEach((name, i) => sites.set(name as Hospital, s[i]!));
    console.log(`3 clusters started at once in ${Date.now() - t0} ms`);

    await hub.kubectl(['apply', '--server-side', '-f', path.join(packageRoot, 'crds')]);
    await hub.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    await hub.kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
    await hub.kubectl(['create', 'namespace', JOB_NAMESPACE]);
    await hub.kubectl(['label', 'namespace', JOB_NAMESPACE, 'pod-security.kubernetes.io/enforce=restricted']);
    // The claim the operator makes for the job's checkpoints binds this folder of the hub's node.
    checkpoints = await hub.persistentVolume({ namespace: JOB_NAMESPACE, name: 'heart-checkpoints' });

    const [gatewayPort, enrollmentPort] = [await freePort(), await freePort()];
    operator = await startOperator({
      kubeconfigPath: hub.controlPlane.kubeconfigPath,
      namespace: OPERATOR_NAMESPACE,
      identity: 'operator-0',
      logFile: path.join(hub.controlPlane.dir, 'operator.log'),
      gatewayPort,
      enrollmentPort,
      args: [`--image=${nodes.image.name}`, '--aggregator-service-type=LoadBalancer'],
    });
    await eventually(() => operator.isLeading(), 60_000, 'the operator to lead', POLL_MS);

    for (const [name, site] of sites) {
      await hub.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name }, spec: { allowedNamespaces: [JOB_NAMESPACE] } }));
      await site.kubectl(['create', 'namespace', SITE_NAMESPACE]);
      // The hospital's records on its own node; they never leave this cluster.
      const data = await site.persistentVolume({ namespace: SITE_NAMESPACE, name: 'site-data' });
      await copyFile(path.join(packageRoot, 'examples/heart-disease/data', HOSPITALS[name]), path.join(data, 'heart.csv'));
      await site.kubectl(['apply', '-f', '-'], JSON.stringify(dataClaim()));
      agents.push(await startAgent(name, site));
    }
    for (const name of sites.keys()) await hub.kubectl(['wait', '--for=condition=Connected', '--timeout=120s', `site/${name}`]);
  }, 30 * 60_000);

  afterAll(async () => {
    for (const agent of agents) agent.kill('SIGTERM');
    await operator?.stop(10_000);
    const t0 = Date.now();
    await nodes?.stop();
    console.log(`3 clusters stopped in ${Date.now() - t0} ms`);
  }, 5 * 60_000);

  const startAgent = async (name: Hospital, site: RealCluster): Promise<ChildProcess> => {
    const dir = path.join(site.controlPlane.dir, 'agent');
    await mkdir(dir, { recursive: true });
    const bundleSecret = `secret/flotilla-join-bundle-${name}`;
    await hub.kubectl(['wait', '--for=create', '--timeout=60s', bundleSecret, `--namespace=${OPERATOR_NAMESPACE}`]);
    const bundle = await hub.kubectl(['get', bundleSecret, `--namespace=${OPERATOR_NAMESPACE}`, '--output=jsonpath={.data.bundle}']);
    await writeFile(path.join(dir, 'join-bundle'), Buffer.from(bundle, 'base64'));
    // The hospital lets the hub's job namespace run the built-in trainer in its mirror of the image.
    await writeFile(path.join(dir, 'policy.json'), JSON.stringify({ allowedJobNamespaces: [JOB_NAMESPACE], allowedImages: [nodes.image.name], trainers: { builtin: true } }));
    const log = createWriteStream(path.join(site.controlPlane.dir, 'site-agent.log'));
    const agent = spawn(
      process.execPath,
      [
        path.join(packageRoot, 'dist/operator/cli/main.js'),
        'site-agent',
        `--namespace=${SITE_NAMESPACE}`,
        `--state-dir=${path.join(dir, 'state')}`,
        `--kubeconfig=${site.controlPlane.kubeconfigPath}`,
        `--join=${path.join(dir, 'join-bundle')}`,
        `--client-image=${nodes.image.name}`,
        `--policy=${path.join(dir, 'policy.json')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    agent.stdout!.pipe(log);
    agent.stderr!.pipe(log);
    return agent;
  };

  test('the job trains to Succeeded with the aggregator and the clients as containers of the image', async () => {
    const applied = Date.now();
    await hub.kubectl(['apply', '-f', '-'], JSON.stringify(heartJob()));

    // The aggregator: a pod of the image on the hub's real node, behind a load-balancer address.
    const aggregatorPod = await runningPod(hub, JOB_NAMESPACE, 'app.kubernetes.io/component=aggregator');
    console.log(`aggregator pod Running ${Date.now() - applied} ms after the job was applied`);
    expect(aggregatorPod.spec.nodeName).toBe(hub.nodeName);
    expect(aggregatorPod.spec.containers[0].image).toBe(nodes.image.name);
    let address = '';
    await eventually(
      async () => !!(address = await hub.kubectl(['get', 'service', 'heart-aggregator', `--namespace=${JOB_NAMESPACE}`, '--output=jsonpath={.status.loadBalancer.ingress[0].ip}'])),
      60_000,
      'the aggregator Service to get an address',
      POLL_MS,
    );
    // The hub node's kube-proxy forwards that address (nftables mode, in the node's own namespace).
    expect(await hub.onNode('nft', ['list', 'table', 'ip', 'kube-proxy'])).toContain(address);

    // Each hospital's client: a pod of the image on its own node, dialling that address.
    for (const [name, site] of sites) {
      const client = await runningPod(site, SITE_NAMESPACE, 'flotilla.dev/job=heart');
      expect(client.spec.nodeName).toBe(site.nodeName);
      expect(client.spec.containers[0].image).toBe(nodes.image.name);
      const args: string[] = client.spec.containers[0].args;
      expect(args[args.indexOf('--aggregator') + 1]).toMatch(new RegExp(`^${address.replaceAll('.', '\\.')}:\\d+$`));
      expect(client.status.podIP).not.toBe(aggregatorPod.status.podIP);
      console.log(`${name}: client pod ${client.status.podIP} on ${client.spec.nodeName} -> aggregator ${address}`);
    }

    await eventually(
      async () => ['Succeeded', 'Failed'].includes(await hub.kubectl(['get', 'federatedjob', 'heart', `--namespace=${JOB_NAMESPACE}`, '--output=jsonpath={.status.phase}'])),
      600_000,
      'the job to end',
      POLL_MS,
    );
    console.log(`job ended ${Date.now() - applied} ms after it was applied`);
    const job = JSON.parse(await hub.kubectl(['get', 'federatedjob', 'heart', `--namespace=${JOB_NAMESPACE}`, '--output=json']));
    expect(job.status).toMatchObject({ phase: 'Succeeded', progress: '3/3', round: 3 });
    expect(job.status.sites.map((s: { name: string; lastRound: number }) => [s.name, s.lastRound])).toEqual([
      ['cleveland', 3],
      ['hungarian', 3],
    ]);
    // The model the status names is the file the aggregator's container wrote on the hub's volume.
    const model = await readFile(path.join(checkpoints, 'model.safetensors'));
    expect(job.status.model.sha256).toBe(createHash('sha256').update(model).digest('hex'));
    expect(job.status.latestMetrics.accuracy).toBeGreaterThan(0.5);
  }, 15 * 60_000);
});

function heartJob() {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: JOB_NAMESPACE },
    spec: {
      sites: { names: Object.keys(HOSPITALS) },
      rounds: 3,
      minSites: 2,
      roundDeadlineSeconds: 60,
      heartbeatTimeoutSeconds: 20,
      data: { path: 'heart.csv' },
      trainer: HEART_TRAINER,
    },
  };
}

function dataClaim() {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'site-data', namespace: SITE_NAMESPACE },
    spec: {
      accessModes: ['ReadOnlyMany'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: '',
      volumeName: `${SITE_NAMESPACE}-site-data`,
    },
  };
}

/** The first pod matching the selector once it is Running (a controller makes it: wait for it to appear). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function runningPod(cluster: RealCluster, namespace: string, selector: string): Promise<any> {
  let pod: unknown;
  await eventually(
    async () => {
      const list = JSON.parse(await cluster.kubectl(['get', 'pods', `--namespace=${namespace}`, `--selector=${selector}`, '--output=json']));
      pod = list.items.find((p: { status: { phase: string } }) => p.status.phase === 'Running');
      return pod !== undefined;
    },
    180_000,
    `a Running pod ${selector} in ${cluster.name}/${namespace}`,
    POLL_MS,
  );
  return pod;
}
