/**
 * A federation to watch, every part real and local (as test/hub/end-to-end.test.ts builds it): a
 * hub control plane with the operator, hospital control planes each with its site agent serving
 * /metrics, and the aggregators and clients run "in their pods" by process kubelets. The Sites
 * are enrolled and connected when startFederation resolves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { freePort, type OperatorProcess } from '../support/operator-process.js';
import { ProcessKubelet } from '../support/process-kubelet.js';
import { federatedJob, JOB_NAMESPACE, OPERATOR_NAMESPACE, startHub, type Hub } from '../hub/hub-fixture.js';
import { HEART_TRAINER } from '../support/heart-trainer.js';

export const SITE_NAMESPACE = 'flotilla-site';
const DATA = ['processed.cleveland.data', 'processed.hungarian.data', 'processed.switzerland.data', 'processed.va.data'];

export interface Hospital {
  name: string;
  cluster: ControlPlane;
  kubelet: ProcessKubelet;
  agent?: ChildProcess;
  /** The agent's /healthz, /readyz and /metrics. */
  healthPort: number;
  stateDir: string;
}

export interface Federation {
  hub: Hub;
  operator: OperatorProcess;
  hospitals: Hospital[];
  hospital(name: string): Hospital;
  /** Starts (or starts again) a hospital's agent with the state it has. */
  startAgent(h: Hospital): Promise<void>;
  stopAgent(h: Hospital): Promise<void>;
  /** The pod of a job's aggregator at the hub, once it has an address. */
  aggregatorPod(job: string): Promise<{ name: string; ip: string } | undefined>;
  /** The name of a job's client pod at a hospital. */
  clientPod(h: Hospital, job: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

export const METRICS_PORT = 9090;

export async function startFederation(prefix: string, sites: string[]): Promise<Federation> {
  const hub = await startHub(`${prefix}-hub`);
  const hospitals: Hospital[] = [];
  const stopAgent = async (h: Hospital) => {
    const agent = h.agent;
    if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGTERM');
    const timer = setTimeout(() => agent.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const federation: Federation = {
    hub,
    operator: undefined as unknown as OperatorProcess,
    hospitals,
    hospital: (name) => hospitals.find((h) => h.name === name)!,
    async startAgent(h) {
      const dir = path.join(h.cluster.dir, 'agent');
      await mkdir(dir, { recursive: true });
      const bundle = await hub
        .kubectl('get', 'secret', `flotilla-join-bundle-${h.name}`, `--namespace=${OPERATOR_NAMESPACE}`, '--output=jsonpath={.data.bundle}')
        .catch(() => '');
      if (bundle) await writeFile(path.join(dir, 'join-bundle'), Buffer.from(bundle, 'base64'));
      // The site lets the hub's job namespace run the built-in trainer in the image the kubelet runs.
      await writeFile(path.join(dir, 'policy.json'), JSON.stringify({ allowedJobNamespaces: [JOB_NAMESPACE], allowedImages: ['ghcr.io/flotilla-dev/**'], trainers: { builtin: true } }));
      const args = [
        path.join(packageRoot, 'dist/operator/cli/main.js'),
        'site-agent',
        `--namespace=${SITE_NAMESPACE}`,
        `--state-dir=${h.stateDir}`,
        `--kubeconfig=${h.cluster.kubeconfigPath}`,
        `--listen-health=127.0.0.1:${h.healthPort}`,
        `--policy=${path.join(dir, 'policy.json')}`,
        ...(bundle ? [`--join=${path.join(dir, 'join-bundle')}`] : []),
      ];
      const log = createWriteStream(path.join(h.cluster.dir, 'site-agent.log'), { flags: 'a' });
      h.agent = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      h.agent.stdout!.pipe(log);
      h.agent.stderr!.pipe(log);
    },
    stopAgent,
    async aggregatorPod(job) {
      const out = await hub.kubectl(
        'get',
        'pods',
        `--namespace=${JOB_NAMESPACE}`,
        `--selector=flotilla.dev/job=${job},app.kubernetes.io/component=aggregator`,
        '--output=jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{"\\n"}{end}',
      );
      const [name, ip] = out.trim().split('\n')[0]?.split(' ') ?? [];
      return name && ip ? { name, ip } : undefined;
    },
    async clientPod(h, job) {
      const out = await h.cluster.kubectl(['get', 'pods', `--namespace=${SITE_NAMESPACE}`, `--selector=flotilla.dev/job=${job}`, '--output=jsonpath={.items[0].metadata.name}']);
      return out.trim() || undefined;
    },
    async stop() {
      for (const h of hospitals) {
        h.agent?.kill('SIGKILL');
        await h.kubelet.stop();
        await h.cluster.stop();
      }
      await hub.stop();
    },
  };
  try {
    federation.operator = await hub.operator('operator-0', ['--aggregator-service-type=LoadBalancer', '--site-cleanup-grace=120']);
    for (const [i, name] of sites.entries()) {
      const cluster = await startControlPlane({ name: `${prefix}-site-${name}` });
      await cluster.kubectl(['create', 'namespace', SITE_NAMESPACE]);
      const kubelet = await ProcessKubelet.start({ kubeconfig: cluster.kubeconfig, namespaces: [SITE_NAMESPACE] });
      const claim = kubelet.claimPath(SITE_NAMESPACE, 'site-data');
      await mkdir(claim, { recursive: true });
      await copyFile(path.join(packageRoot, 'examples/heart-disease/data', DATA[i % DATA.length]!), path.join(claim, 'heart.csv'));
      hospitals.push({ name, cluster, kubelet, healthPort: await freePort(), stateDir: path.join(cluster.dir, 'agent', 'state') });
    }
    await eventually(() => federation.operator.isLeading(), 60_000, 'the operator to lead');
    for (const h of hospitals) await hub.apply({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: h.name }, spec: { allowedNamespaces: [JOB_NAMESPACE] } });
    for (const h of hospitals) {
      await eventually(
        () => hub.kubectl('get', 'secret', `flotilla-join-bundle-${h.name}`, `--namespace=${OPERATOR_NAMESPACE}`).then(() => true),
        30_000,
        `the join bundle of ${h.name}`,
      );
      await federation.startAgent(h);
    }
    for (const h of hospitals) {
      await eventually(
        async () => (await hub.kubectl('get', 'site', h.name, '--output=jsonpath={.status.conditions[?(@.type=="Connected")].status}')) === 'True',
        60_000,
        `site ${h.name} to connect`,
      );
    }
    return federation;
  } catch (err) {
    await federation.stop();
    throw err;
  }
}

/** A heart-disease job over the given sites, short deadlines so that a job that cannot train ends soon. */
export function heartJob(name: string, sites: string[], spec: Record<string, unknown> = {}) {
  return federatedJob(name, {
    sites: { names: sites },
    rounds: 3,
    minSites: sites.length,
    roundDeadlineSeconds: 20,
    heartbeatTimeoutSeconds: 10,
    data: { path: 'heart.csv' },
    trainer: HEART_TRAINER,
    ...spec,
  });
}

/** GET a plain-HTTP endpoint's body; throws unless it answers 200. */
export async function scrape(address: string, urlPath = '/metrics'): Promise<string> {
  const res = await fetch(`http://${address}${urlPath}`, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`GET http://${address}${urlPath}: ${res.status}`);
  return res.text();
}
