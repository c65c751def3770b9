/**
 * The ground the adversarial tests of the site policy and the hub's tenancy stand on, every part
 * real: a hub control plane (kube-controller-manager for the garbage collector) with the operator
 * as a process of the build, a hospital control plane (kwok plays kubelet) with the real site agent
 * of an honest Site, a tenant who holds FederatedJob rights in one hub namespace and nothing else,
 * and a hostile site: a Site enrolled with its own join bundle whose "agent" is a bare gRPC client
 * of the site protocol, so it can say anything the protocol lets it say.
 */
import { writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, status, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../../../operator/log.js';
import { createCsr } from '../../../operator/pki/csr.js';
import { generateKeyPair } from '../../../operator/pki/keys.js';
import type { AgentIdentity } from '../../../operator/site/agent-identity.js';
import { enrol } from '../../../operator/site/enrol.js';
import { startSiteAgent, type SiteAgent } from '../../../operator/site/main.js';
import { parsePolicy } from '../../../operator/site/policy.js';
import { decodeJoinBundle } from '../../../operator/sitelink/join-bundle.js';
import {
  SiteGateway,
  type AgentMessage,
  type AssignmentStatusMessage,
  type HubMessage__Output,
  type SignedCertificate__Output,
  type SiteGatewayClient,
} from '../../../operator/sitelink/proto.js';
import { startControlPlane, type ControlPlane } from '../../support/envtest/controlplane.js';
import { eventually } from '../../support/eventually.js';
import { freePort, startOperator, type OperatorProcess } from '../../support/operator-process.js';
import { installCrds } from '../../support/test-cluster.js';
import { agentNamespace, bindPendingPods } from '../../sites/support.js';

export const OPERATOR_NS = 'flotilla-system';
/** The tenant's namespace at the hub. */
export const TENANT_NS = 'research';
/** Another team's namespace at the hub, which no Site allows. */
export const OTHER_NS = 'oncology';
/** The agent's namespace at the hospital. */
export const SITE_NS = 'flotilla';
export const HONEST = 'st-olav';
export const HOSTILE = 'mallory';
/** Where every job's aggregator is said to be (--aggregator-address-template): an address, so the NetworkPolicy names it. */
export const AGGREGATOR_ADDRESS = '192.0.2.10:8443';
export const CLEANUP_GRACE_S = 20;
export const BYO_COMMAND = ['python3', '/opt/trainer/train.py'];
const NODE = 'records-node';

/** The honest hospital's policy. */
export const POLICY = {
  allowedJobNamespaces: [TENANT_NS],
  allowedImages: ['ghcr.io/flotilla-dev/**'],
  trainers: { builtin: true, commands: [BYO_COMMAND] },
  allowedNodeSelectors: { pool: ['research'] },
  allowedTolerations: [{ key: 'research', operator: 'Exists', effect: 'NoSchedule' }],
};

export interface Kubectl {
  (...args: string[]): Promise<string>;
  json<T = Record<string, unknown>>(...args: string[]): Promise<T>;
  apply(obj: unknown): Promise<string>;
}

function kubectlOf(run: (args: string[], stdin?: string) => Promise<string>): Kubectl {
  const k = ((...args: string[]) => run(args)) as Kubectl;
  k.json = async <T>(...args: string[]) => JSON.parse(await run([...args, '--output=json'])) as T;
  k.apply = (obj: unknown) => run(['apply', '-f', '-'], JSON.stringify(obj));
  return k;
}

export interface TrustWorld {
  hub: ControlPlane;
  hubKc: k8s.KubeConfig;
  site: ControlPlane;
  operator: OperatorProcess;
  /** The hub's administrator (and the other team: they own what it makes in TENANT_NS). */
  admin: Kubectl;
  /** A user with FederatedJob rights in TENANT_NS, and nothing else. */
  tenant: Kubectl;
  /** The same rights in OTHER_NS. */
  otherTenant: Kubectl;
  /** The hospital's administrator. */
  hospital: Kubectl;
  agent: SiteAgent;
  hostile: HostileSite;
  stop(): Promise<void>;
}

export async function startTrustWorld(name: string): Promise<TrustWorld> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const [hub, site] = await Promise.all([
      startControlPlane({ name: `${name}-hub`, withControllerManager: true }),
      startControlPlane({ name: `${name}-site`, fakeNodes: [NODE] }),
    ]);
    stops.push(() => hub.stop(), () => site.stop());
    await installCrds(hub);
    const admin = kubectlOf((args, stdin) => hub.kubectl(args, stdin));
    const hospital = kubectlOf((args, stdin) => site.kubectl(args, stdin));
    for (const ns of [OPERATOR_NS, TENANT_NS, OTHER_NS]) await admin('create', 'namespace', ns);
    const tenant = kubectlOf(await federatedJobUser(hub, TENANT_NS));
    const otherTenant = kubectlOf(await federatedJobUser(hub, OTHER_NS));

    const [gatewayPort, enrollmentPort] = [await freePort(), await freePort()];
    const operator = await startOperator({
      kubeconfigPath: hub.kubeconfigPath,
      namespace: OPERATOR_NS,
      identity: 'operator-0',
      logFile: path.join(hub.dir, 'operator.log'),
      gatewayPort,
      enrollmentPort,
      args: [`--site-cleanup-grace=${CLEANUP_GRACE_S}`, `--aggregator-address-template=${AGGREGATOR_ADDRESS}`],
    });
    stops.push(async () => {
      await operator.stop(10_000);
      if (process.env.FLOTILLA_TEST_LOGS) await writeFile(path.join(process.env.FLOTILLA_TEST_LOGS, `${name}-operator.log`), await operator.log());
    });
    await eventually(() => operator.isReady(), 60_000, 'the operator to lead');

    for (const s of [HONEST, HOSTILE]) {
      await admin.apply({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: s }, spec: { allowedNamespaces: [TENANT_NS] } });
    }
    const stopBinding = bindPendingPods(site, NODE);
    stops.push(async () => stopBinding());
    const kubeconfig = await agentNamespace(site, SITE_NS);
    const stateDir = await mkdtemp(path.join(tmpdir(), 'flotilla-trust-'));
    const log = createLogger('site-agent');
    log.level = 'error';
    const agent = await startSiteAgent({
      joinBundle: () => joinBundle(admin, HONEST),
      namespace: SITE_NS,
      stateDir,
      kubeconfig,
      policy: parsePolicy(POLICY),
      siteDataClaim: 'site-data',
      backoff: { baseMs: 200, maxMs: 1_000 },
      // Lenient: the stream storms of the hostile tests load these 2 cores.
      keepalive: { timeMs: 5_000, timeoutMs: 5_000 },
      log,
    });
    stops.push(() => agent.stop());
    const hostile = await HostileSite.enrol(await joinBundle(admin, HOSTILE));
    stops.push(async () => hostile.close());
    const connected = (s: string) => admin('get', 'site', s, '--output=jsonpath={.status.conditions[?(@.type=="Connected")].status}');
    await eventually(async () => (await connected(HONEST)) === 'True', 60_000, 'the honest agent to connect');
    return { hub, hubKc: kubeConfigOf(hub.kubeconfig), site, operator, admin, tenant, otherTenant, hospital, agent, hostile, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function kubeConfigOf(text: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(text);
  return kc;
}

/** The join bundle the operator made for a Site, once it is there. */
async function joinBundle(admin: Kubectl, site: string): Promise<string> {
  let bundle = '';
  await eventually(
    async () => {
      bundle = await admin('get', 'secret', `flotilla-join-bundle-${site}`, `--namespace=${OPERATOR_NS}`, '--output=jsonpath={.data.bundle}').catch(() => '');
      return bundle !== '';
    },
    60_000,
    `the join bundle of ${site}`,
  );
  return Buffer.from(bundle, 'base64').toString('utf8');
}

/** kubectl as a ServiceAccount of `namespace` that may do anything to FederatedJobs there, and nothing else. */
async function federatedJobUser(hub: ControlPlane, namespace: string): Promise<(args: string[], stdin?: string) => Promise<string>> {
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'federatedjobs', namespace },
    rules: [{ apiGroups: ['flotilla.dev'], resources: ['federatedjobs'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'tenant', namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'federatedjobs' },
    subjects: [{ kind: 'ServiceAccount', name: 'tenant', namespace }],
  };
  await hub.kubectl(['create', 'serviceaccount', 'tenant', '-n', namespace]);
  await hub.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [role, binding] }));
  const token = (await hub.kubectl(['create', 'token', 'tenant', '-n', namespace, '--duration=2h'])).trim();
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'hub', cluster: { server: hub.server, 'certificate-authority-data': Buffer.from(hub.caPem).toString('base64') } }],
    users: [{ name: 'tenant', user: { token } }],
    contexts: [{ name: 'tenant', context: { cluster: 'hub', user: 'tenant', namespace } }],
    'current-context': 'tenant',
  };
  const file = path.join(hub.dir, `tenant-${namespace}.kubeconfig`);
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return (args, stdin) => hub.kubectl([`--kubeconfig=${file}`, ...args], stdin);
}

/** A FederatedJob of the tenant's, naming `sites`. */
export function job(name: string, spec: Record<string, unknown> = {}, namespace = TENANT_NS) {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace },
    spec: {
      sites: { names: [HONEST] },
      rounds: 3,
      minSites: 1,
      data: { path: 'heart.csv' },
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } },
      ...spec,
    },
  };
}

/** A Connect stream of the hostile site, its messages and its end recorded. */
export interface HostileStream {
  call: ClientDuplexStream<AgentMessage, HubMessage__Output>;
  /** Every assignment set received: "namespace/job" of each. */
  sets: string[][];
  readonly ended: StatusObject | undefined;
  hello(agentVersion?: string, assignments?: AssignmentStatusMessage[]): void;
  report(assignments: AssignmentStatusMessage[]): void;
}

/** An enrolled Site whose agent is ours to script: the site protocol spoken by hand. */
export class HostileSite {
  private readonly clients: SiteGatewayClient[] = [];

  private constructor(readonly identity: AgentIdentity) {}

  static async enrol(bundleText: string): Promise<HostileSite> {
    const log = createLogger('hostile-site');
    log.level = 'error';
    return new HostileSite(await enrol(decodeJoinBundle(bundleText), { agentVersion: 'hostile', log }));
  }

  /** A channel of its own (a connection of its own, not shared with the others). */
  client(): SiteGatewayClient {
    const { hub, caPem, keyPem, certificatePem } = this.identity;
    const client = new SiteGateway(hub, credentials.createSsl(Buffer.from(caPem), Buffer.from(keyPem), Buffer.from(certificatePem)), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_send_message_length': 64 << 20,
    });
    this.clients.push(client);
    return client;
  }

  open(client = this.client()): HostileStream {
    const call = client.connect();
    const sets: string[][] = [];
    let ended: StatusObject | undefined;
    call.on('data', (m: HubMessage__Output) => sets.push((m.assignments?.assignments ?? []).map((a) => `${a.namespace}/${a.job}`)));
    call.on('error', () => undefined);
    call.on('status', (s: StatusObject) => (ended = s));
    return {
      call,
      sets,
      get ended() {
        return ended;
      },
      hello: (agentVersion = 'hostile', assignments = []) => call.write({ hello: { agentVersion, status: { assignments } } }),
      report: (assignments) => call.write({ status: { assignments } }),
    };
  }

  /** Asks the hub to sign a client certificate for a job, as the site; resolves to the refusal, if any. */
  async signFor(namespace: string, jobName: string): Promise<ServiceError | SignedCertificate__Output> {
    const key = await generateKeyPair();
    const csrPem = await createCsr({ role: 'client', namespace, job: jobName, site: this.identity.site }, key);
    const client = this.client();
    return new Promise((resolve) => client.signClientCertificate({ namespace, job: jobName, csrPem }, (err, res) => resolve(err ?? res!)));
  }

  close(): void {
    for (const c of this.clients.splice(0)) c.close();
  }
}

export const isRefusal = (r: ServiceError | SignedCertificate__Output): r is ServiceError => 'code' in r && r.code !== status.OK;
