/**
 * A whole federation on real control planes, for the kill and partition suites of the hub side: a
 * hub (kube-apiserver, kube-controller-manager, a process kubelet for the aggregator pods), two
 * hospitals (each a control plane and a process kubelet for the client pods), two operator replicas
 * and the two site agents, all processes of the built CLI kept running as pods would be
 * (RestartingRole: restarted with the same identity, flags and state after a crash), each logging the
 * fault points it passes. Site b's agent reaches the hub's gateway through a TCP proxy the test can cut.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { decodeJoinBundle, encodeJoinBundle } from '../../operator/sitelink/join-bundle.js';
import { eventually } from '../support/eventually.js';
import { startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { freePort } from '../support/operator-process.js';
import { ProcessKubelet } from '../support/process-kubelet.js';
import { RestartingRole, type Fault } from '../support/restarting-role.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { JOB_NAMESPACE, OPERATOR_NAMESPACE, startHub, type Hub } from '../hub/hub-fixture.js';

export const SITE_NAMESPACE = 'flotilla-site';
/** Between checks that run kubectl: each is a process of its own, and polled at 50 ms they take a core from the processes under test. */
export const KUBECTL_POLL_MS = 250;
export const HOSPITALS = { a: 'processed.cleveland.data', b: 'processed.hungarian.data' } as const;
export type HospitalName = keyof typeof HOSPITALS;

/** Every process logs the fault points it passes, so that the suite learns where to aim. */
const TRACED = { FLOTILLA_FAULT_TRACE: '1' };

export interface Hospital {
  name: HospitalName;
  cluster: ControlPlane;
  kubelet: ProcessKubelet;
  agent?: RestartingRole;
}

export interface FaultPlan {
  operator?: (identity: string) => Fault | null;
  agent?: (site: HospitalName) => Fault | null;
  /** Whether a fault may strike now (asked before arming one and before a timed kill). */
  mayFault?: () => boolean;
}

export class Federation {
  readonly operators = new Map<string, RestartingRole>();
  readonly hospitals: Hospital[] = [];
  /** Between site b's agent and the hub's gateway. */
  hubLink!: TcpProxy;
  private readonly healthPorts = new Map<string, number>();
  /** Control planes started but not yet a hospital's (stopped if the start fails half-way). */
  private readonly pending: ControlPlane[] = [];

  private constructor(
    readonly hub: Hub,
    private readonly plan: FaultPlan,
  ) {}

  static async start(name: string, plan: FaultPlan): Promise<Federation> {
    const hub = await startHub(`${name}-hub`);
    const federation = new Federation(hub, plan);
    try {
      // Both hospitals at once: a control plane's start is mostly waiting.
      const started = await Promise.allSettled(
        (Object.keys(HOSPITALS) as HospitalName[]).map(async (site): Promise<Hospital> => {
          const cluster = await startControlPlane({ name: `${name}-site-${site}` });
          federation.pending.push(cluster);
          await cluster.kubectl(['create', 'namespace', SITE_NAMESPACE]);
          const kubelet = await ProcessKubelet.start({ kubeconfig: cluster.kubeconfig, namespaces: [SITE_NAMESPACE] });
          const claim = kubelet.claimPath(SITE_NAMESPACE, 'site-data');
          await mkdir(claim, { recursive: true });
          await copyFile(path.join(packageRoot, 'examples/heart-disease/data', HOSPITALS[site]), path.join(claim, 'heart.csv'));
          return { name: site, cluster, kubelet };
        }),
      );
      for (const s of started) if (s.status === 'fulfilled') federation.hospitals.push(s.value);
      federation.pending.length = 0;
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      federation.hubLink = await TcpProxy.start({ host: '127.0.0.1', port: hub.gatewayPort });
    } catch (err) {
      await federation.stop();
      throw err;
    }
    return federation;
  }

  get kubectl(): Hub['kubectl'] {
    return this.hub.kubectl;
  }

  /** An operator replica (its pod: the identity stays across restarts, as a pod's name does). */
  async startOperator(identity: string): Promise<RestartingRole> {
    const health = await freePort();
    this.healthPorts.set(identity, health);
    const args = [
      'operator',
      `--kubeconfig=${this.hub.cluster.kubeconfigPath}`,
      `--namespace=${OPERATOR_NAMESPACE}`,
      `--identity=${identity}`,
      `--listen-health=127.0.0.1:${health}`,
      `--gateway-listen=127.0.0.1:${this.hub.gatewayPort}`,
      `--enrollment-listen=127.0.0.1:${this.hub.enrollmentPort}`,
      '--aggregator-service-type=LoadBalancer',
      '--site-cleanup-grace=120',
    ];
    const role = new RestartingRole({
      name: identity,
      args,
      logDir: this.hub.cluster.dir,
      env: { ...process.env, ...TRACED, FLOTILLA_LOG_LEVEL: 'debug' },
      faults: () => this.plan.operator?.(identity) ?? null,
      mayFault: () => this.plan.mayFault?.() ?? true,
      // A kill strikes a process at work: loading the CLI takes seconds on a loaded machine.
      clockFromFirstLine: true,
    });
    this.operators.set(identity, role);
    return role;
  }

  async isReady(identity: string): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.healthPorts.get(identity)}/readyz`, { signal: AbortSignal.timeout(2_000) });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  leaseHolder(): Promise<string> {
    return this.kubectl('get', 'lease', 'flotilla-operator', `--namespace=${OPERATOR_NAMESPACE}`, '--output=jsonpath={.spec.holderIdentity}');
  }

  /** Sites at the hub, their join bundles, and the agents started with them. */
  async enrol(): Promise<void> {
    for (const h of this.hospitals) await this.hub.apply({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: h.name }, spec: { allowedNamespaces: [JOB_NAMESPACE] } });
    for (const h of this.hospitals) {
      const bundleSecret = `flotilla-join-bundle-${h.name}`;
      await eventually(() => this.kubectl('get', 'secret', bundleSecret, `--namespace=${OPERATOR_NAMESPACE}`).then(() => true), 60_000, `the join bundle of ${h.name}`, KUBECTL_POLL_MS);
      const encoded = await this.kubectl('get', 'secret', bundleSecret, `--namespace=${OPERATOR_NAMESPACE}`, '--output=jsonpath={.data.bundle}');
      let bundle = decodeJoinBundle(Buffer.from(encoded, 'base64').toString('utf8'));
      // Site b dials the gateway through the proxy (the gateway's certificate names 127.0.0.1).
      if (h.name === 'b') bundle = { ...bundle, hub: `127.0.0.1:${this.hubLink.port}` };
      const dir = path.join(h.cluster.dir, 'agent');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'join-bundle'), encodeJoinBundle(bundle));
      // The hospital lets the hub's job namespace run the built-in trainer in the Flotilla image.
      await writeFile(path.join(dir, 'policy.json'), JSON.stringify({ allowedJobNamespaces: [JOB_NAMESPACE], allowedImages: ['ghcr.io/flotilla-dev/**'], trainers: { builtin: true } }));
      const args = [
        'site-agent',
        `--namespace=${SITE_NAMESPACE}`,
        `--state-dir=${path.join(dir, 'state')}`,
        `--kubeconfig=${h.cluster.kubeconfigPath}`,
        `--join=${path.join(dir, 'join-bundle')}`,
        `--policy=${path.join(dir, 'policy.json')}`,
      ];
      h.agent = new RestartingRole({
        name: `agent-${h.name}`,
        args,
        logDir: h.cluster.dir,
        env: { ...process.env, ...TRACED },
        faults: () => this.plan.agent?.(h.name) ?? null,
        mayFault: () => this.plan.mayFault?.() ?? true,
        // A kill strikes a process at work: loading the CLI takes seconds on a loaded machine.
        clockFromFirstLine: true,
      });
    }
    for (const h of this.hospitals) {
      await eventually(async () => (await this.siteCondition(h.name, 'Connected')) === 'True', 120_000, `site ${h.name} to connect`, KUBECTL_POLL_MS);
    }
  }

  siteCondition(site: string, type: string): Promise<string> {
    return this.kubectl('get', 'site', site, `--output=jsonpath={.status.conditions[?(@.type=="${type}")].status}`);
  }

  hospital(name: HospitalName): Hospital {
    return this.hospitals.find((h) => h.name === name)!;
  }

  /** Names of the objects a site's agent manages there, for a job (or all of them). */
  async siteObjects(site: HospitalName, job?: string): Promise<string[]> {
    const selector = ['app.kubernetes.io/managed-by=flotilla-site-agent', ...(job ? [`flotilla.dev/job=${job}`] : [])].join(',');
    const out = await this.hospital(site).cluster.kubectl(['get', 'pods,secrets,configmaps', `--namespace=${SITE_NAMESPACE}`, `--selector=${selector}`, '--output=name']);
    return out.split('\n').filter(Boolean);
  }

  /** Each job's phase and conditions, and its objects at the hub: what a timed-out wait reports. */
  async describeJobs(jobs: string[]): Promise<string> {
    const ns = `--namespace=${JOB_NAMESPACE}`;
    const lines: string[] = [`lease held by ${await this.leaseHolder().catch(() => '?')}`];
    for (const job of jobs) {
      const fj = JSON.parse(await this.kubectl('get', 'federatedjob', job, ns, '--output=json')) as {
        status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[]; sites?: { name: string; phase: string }[] };
      };
      const conditions = (fj.status?.conditions ?? []).map((c) => `${c.type}=${c.status} ${c.reason ?? ''}: ${c.message ?? ''}`).join('; ');
      const sites = (fj.status?.sites ?? []).map((x) => `${x.name} ${x.phase}`).join(', ');
      lines.push(`${job}: phase ${fj.status?.phase ?? '(none)'}; sites ${sites || '(none)'}; ${conditions || 'no conditions'}`);
      lines.push(await this.kubectl('get', 'deployments,pods,services', ns, `--selector=flotilla.dev/job=${job}`, '--output=wide').catch((err: Error) => err.message));
    }
    return lines.join('\n');
  }

  /** Names of the objects the operator made at the hub for a job (or all of them). */
  async hubObjects(job?: string): Promise<string[]> {
    const selector = ['app.kubernetes.io/managed-by=flotilla-operator', ...(job ? [`flotilla.dev/job=${job}`] : [])].join(',');
    const out = await this.kubectl('get', 'deployments,replicasets,services,configmaps,secrets,pvc', `--namespace=${JOB_NAMESPACE}`, `--selector=${selector}`, '--output=name');
    return out.split('\n').filter(Boolean);
  }

  async stop(): Promise<void> {
    for (const h of this.hospitals) await h.agent?.stop();
    for (const role of this.operators.values()) await role.stop('SIGTERM');
    await this.hubLink?.close();
    for (const h of this.hospitals) {
      await h.kubelet.stop();
      await h.cluster.stop();
    }
    for (const cluster of this.pending) await cluster.stop();
    await this.hub.stop();
  }
}
