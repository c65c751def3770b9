/**
 * The process kubelet against a real control plane (with kube-controller-manager, so Deployments
 * get pods): pods run as local processes of this checkout's build, their status is what the API
 * server shows, volumes and addresses are mapped, deletion ends the process.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { issueSimulationCredentials } from '../../operator/simulate/credentials.js';
import { eventually } from './eventually.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from './envtest/controlplane.js';
import { ProcessKubelet } from './process-kubelet.js';

jest.setTimeout(240_000);

const NS = 'kubelet-test';
const IMAGE = 'ghcr.io/flotilla-dev/flotilla:test';

describe('process kubelet', () => {
  let cluster: ControlPlane;
  let kubelet: ProcessKubelet;
  const kubectl = (...args: string[]) => cluster.kubectl(['--namespace', NS, ...args]);
  const apply = (obj: unknown) => cluster.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
  const jsonpath = (what: string, expr: string) => kubectl('get', what, `--output=jsonpath=${expr}`);

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    cluster = await startControlPlane({ name: 'kubelet', withControllerManager: true });
    await cluster.kubectl(['create', 'namespace', NS]);
    kubelet = await ProcessKubelet.start({ kubeconfig: cluster.kubeconfig, namespaces: [NS] });
  });
  afterAll(async () => {
    await kubelet?.stop();
    await cluster?.stop();
  });

  const pod = (name: string, args: string[], extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: IMAGE, command: ['flotilla'], args }], ...extra },
  });

  test('registers a Ready node', async () => {
    await cluster.kubectl(['wait', '--for=condition=Ready', `node/${kubelet.nodeName}`, '--timeout=30s']);
  });

  test('binds a pod, runs it as a process and reports how it ended', async () => {
    await apply(pod('version', ['version']));
    await apply(pod('unknown-command', ['no-such-command']));
    await kubectl('wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/version', '--timeout=60s');
    await kubectl('wait', '--for=jsonpath={.status.phase}=Failed', 'pod/unknown-command', '--timeout=60s');
    const version = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8')).version;
    expect((await kubelet.logs(NS, 'version')).trim()).toBe(version);
    expect(await jsonpath('pod/version', '{.spec.nodeName}')).toBe(kubelet.nodeName);
    expect(await jsonpath('pod/version', '{.status.containerStatuses[0].state.terminated.exitCode}')).toBe('0');
    expect(await jsonpath('pod/unknown-command', '{.status.containerStatuses[0].state.terminated.exitCode}')).toBe('2');
    expect(await kubelet.logs(NS, 'unknown-command')).toMatch(/unknown command 'no-such-command'/);
  });

  test('refuses an image it cannot run, with the reason in the container status', async () => {
    await apply({ ...pod('other-image', []), spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] } });
    await eventually(
      async () => (await jsonpath('pod/other-image', '{.status.containerStatuses[0].state.waiting.reason}')) === 'CreateContainerConfigError',
      30_000,
    );
    expect(await jsonpath('pod/other-image', '{.status.containerStatuses[0].state.waiting.message}')).toMatch(/only the Flotilla image/);
  });

  test('a Deployment of an aggregator: volumes mapped, pod IP, readiness, load balancer, graceful deletion', async () => {
    const creds = await issueSimulationCredentials(path.join(kubelet.root, 'creds'), { namespace: NS, name: 'heart-disease' }, []);
    const secretFrom = async (file: string) => Buffer.from(await readFile(path.join(creds.aggregatorDir, file))).toString('base64');
    const job = await readFile(path.join(packageRoot, 'examples/heart-disease/federatedjob.yaml'), 'utf8');
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'job', namespace: NS }, data: { 'job.yaml': job } });
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'tls', namespace: NS },
      data: { 'ca.crt': await secretFrom('ca.crt'), 'tls.crt': await secretFrom('tls.crt'), 'tls.key': await secretFrom('tls.key') },
    });
    const labels = { app: 'aggregator' };
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'aggregator', namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'aggregator',
                image: IMAGE,
                command: ['flotilla', 'aggregator'],
                args: [
                  '--job=/etc/job/job.yaml',
                  '--namespace=$(POD_NAMESPACE)',
                  '--listen=0.0.0.0:8443',
                  '--metrics-listen=0.0.0.0:9090',
                  '--tls-dir=/etc/tls',
                  '--state-dir=/state',
                  '--ready-file=/state/ready.json',
                ],
                env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
                ports: [
                  { name: 'grpc', containerPort: 8443 },
                  { name: 'metrics', containerPort: 9090 },
                ],
                readinessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 1 },
                volumeMounts: [
                  { name: 'job', mountPath: '/etc/job', readOnly: true },
                  { name: 'tls', mountPath: '/etc/tls', readOnly: true },
                  { name: 'state', mountPath: '/state' },
                ],
              },
            ],
            volumes: [
              { name: 'job', configMap: { name: 'job' } },
              { name: 'tls', secret: { secretName: 'tls' } },
              { name: 'state', persistentVolumeClaim: { claimName: 'checkpoints' } },
            ],
          },
        },
      },
    });
    await kubectl('wait', '--for=condition=Available', 'deployment/aggregator', '--timeout=90s');
    const podName = (await jsonpath('pods', '{.items[0].metadata.name}')).trim();
    const podIP = await jsonpath(`pod/${podName}`, '{.status.podIP}');
    expect(podIP).toMatch(/^127\.\d+\.\d+\.\d+$/);
    // The ready file landed in the claim's folder: paths under a mount are mapped to the volume.
    const ready = JSON.parse(await readFile(path.join(kubelet.claimPath(NS, 'checkpoints'), 'ready.json'), 'utf8'));
    expect(ready.address).toBe(`${podIP}:8443`);
    await expect(tcpConnect(podIP, 8443)).resolves.toBe(true);

    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'aggregator', namespace: NS },
      spec: { type: 'LoadBalancer', selector: labels, ports: [{ name: 'grpc', port: 8443, targetPort: 'grpc' }] },
    });
    let lbIP = '';
    await eventually(async () => (lbIP = await jsonpath('service/aggregator', '{.status.loadBalancer.ingress[0].ip}')) !== '', 30_000);
    expect(lbIP).not.toBe(podIP);
    await expect(tcpConnect(lbIP, 8443)).resolves.toBe(true);

    // A label put on the running pod counts (the operator's leader labels itself so): a Service
    // selecting it reaches the pod once the label is there, and not before.
    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'labelled', namespace: NS },
      spec: { type: 'LoadBalancer', selector: { ...labels, leader: 'true' }, ports: [{ name: 'metrics', port: 9090, targetPort: 'metrics' }] },
    });
    let labelledIP = '';
    await eventually(async () => (labelledIP = await jsonpath('service/labelled', '{.status.loadBalancer.ingress[0].ip}')) !== '', 30_000);
    const healthz = () => fetch(`http://${labelledIP}:9090/healthz`).then((r) => r.ok, () => false);
    expect(await healthz()).toBe(false);
    await kubectl('label', `pod/${podName}`, 'leader=true');
    await eventually(healthz, 10_000, 'the labelled pod behind the Service');

    await kubectl('delete', `pod/${podName}`, '--wait=true', '--timeout=60s');
    expect(await kubelet.logs(NS, podName)).toBe(''); // its run is forgotten with it
    await eventually(async () => !(await tcpConnect(podIP, 8443)), 10_000, 'the process to be gone');
    // The ReplicaSet makes a new pod, which resumes from the same claim.
    await kubectl('wait', '--for=condition=Available', 'deployment/aggregator', '--timeout=90s');
  });
});

function tcpConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false)).once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
