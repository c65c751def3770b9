/**
 * What the sites tests share: an AssignmentSource the test sets by hand (the seam the controllers
 * implement), a hub with its PKI, tokens, Site informer and gateway, a hospital's cluster made
 * ready for an agent, and small gRPC helpers.
 */
import { writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import type { AssignmentSource, Site } from '../../operator/hub/contracts.js';
import type { Assignment } from '../../operator/sitelink/assignment.js';
import { SiteGatewayServer, type GatewayPorts } from '../../operator/hub/gateway/site-gateway.js';
import { SiteSessionRegistry } from '../../operator/hub/gateway/sessions.js';
import { HubPki, type HubPkiOptions } from '../../operator/hub/pki.js';
import { JoinTokens, type IssuedJoinToken } from '../../operator/hub/join-tokens.js';
import type { EnrolmentLimitsOptions } from '../../operator/hub/gateway/enrolment-limits.js';
import { Informer } from '../../operator/kube/informer.js';
import { kubeRequest } from '../../operator/kube/request.js';
import { createLogger } from '../../operator/log.js';
import type { Pod } from '../../operator/site/client-objects.js';
import { siteAgentRole, siteAgentRoleBinding } from '../../operator/site/rbac.js';
import type { ControlPlane } from '../support/envtest/controlplane.js';

export const OPERATOR_NS = 'flotilla-system';

export class TestAssignments implements AssignmentSource {
  private readonly sets = new Map<string, Assignment[]>();
  /** Every job a site was ever given here: the hub keeps reports of jobs that selected the site. */
  private readonly given = new Map<string, Set<string>>();
  private readonly listeners = new Set<(sites: string[]) => void>();

  set(site: string, assignments: Assignment[]): void {
    this.sets.set(site, assignments);
    const given = this.given.get(site) ?? new Set();
    for (const a of assignments) given.add(`${a.namespace}/${a.job}/${a.jobUid}`);
    this.given.set(site, given);
    for (const listener of this.listeners) listener([site]);
  }

  assignmentsFor(site: string): Assignment[] {
    return this.sets.get(site) ?? [];
  }

  assignmentFor(site: string, job: string): Assignment | undefined {
    return this.assignmentsFor(site).find((a) => `${a.namespace}/${a.job}` === job);
  }

  reportable(site: string): ReadonlySet<string> {
    return this.given.get(site) ?? new Set();
  }

  onChange(listener: (sites: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** An assignment as the hub makes one: its manifest names the job (uid included) and its trainer (built in, unless given). */
export function assignment(job: string, overrides: Partial<Assignment> = {}, trainer: Record<string, unknown> = { builtin: { model: 'LogisticRegression' } }): Assignment {
  const namespace = overrides.namespace ?? 'cardiology';
  const jobUid = overrides.jobUid ?? `00000000-0000-4000-8000-${Buffer.from(job).toString('hex').padEnd(12, '0').slice(0, 12)}`;
  return {
    namespace,
    job,
    jobUid,
    generation: 1,
    aggregatorAddress: `${job}-aggregator.${namespace}.hub.example.org:8443`,
    image: 'ghcr.io/flotilla/flotilla:0.1.0',
    jobManifest: JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'FederatedJob', metadata: { name: job, namespace, uid: jobUid }, spec: { trainer } }),
    resourceLimits: {},
    resourceRequests: { cpu: '500m', memory: '512Mi' },
    nodeSelector: {},
    tolerationsJson: '[]',
    ...overrides,
  };
}

export interface TestHub {
  pki: HubPki;
  tokens: JoinTokens;
  core: CoreV1Api;
  sites: Informer<Site>;
  assignments: TestAssignments;
  sessions: SiteSessionRegistry;
  gateway: SiteGatewayServer;
  ports: GatewayPorts;
  /** A join token for the Site of this name as it is now (its uid from the Site cache). */
  issueToken(site: string, ttlSeconds: number): Promise<IssuedJoinToken>;
  /** Stops the gateway (agents lose their streams). */
  stopGateway(): Promise<void>;
  /** Starts a gateway again on the same ports. */
  startGateway(): Promise<void>;
  stop(): Promise<void>;
}

/** The hub's sites half, in this process, against the hub cluster `kc`. */
export async function startHub(
  kc: k8s.KubeConfig,
  options: {
    pki?: Partial<HubPkiOptions>;
    keepalive?: { timeMs: number; timeoutMs: number };
    helloTimeoutMs?: number;
    enrolmentLimits?: EnrolmentLimitsOptions;
    /** The sessions' least time between notices of a site's reports (0: every report is heard). */
    reportNoticeMs?: number;
  } = {},
): Promise<TestHub> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: OPERATOR_NS } } }).catch(() => undefined);
  const pki = await HubPki.open({ kc, namespace: OPERATOR_NS, ...options.pki });
  const sites = new Informer<Site>(kc, { group: 'flotilla.dev', version: 'v1alpha1', plural: 'sites' });
  await sites.start();
  const assignments = new TestAssignments();
  const sessions = new SiteSessionRegistry(options.reportNoticeMs);
  const log = createLogger('site-gateway');
  log.level = 'error';
  // Fixed ports, so that a restarted gateway is where the agents' bundles say.
  const ports: GatewayPorts = { main: await freePort(), enrollment: await freePort() };
  const tokens = new JoinTokens({
    kc,
    namespace: OPERATOR_NS,
    gatewayAddress: `127.0.0.1:${ports.main}`,
    enrollmentAddress: `127.0.0.1:${ports.enrollment}`,
    caPem: pki.siteCa().certPem,
  });
  const make = () =>
    new SiteGatewayServer({
      pki,
      joinTokens: tokens,
      sites,
      assignments,
      sessions,
      mainAddress: `127.0.0.1:${ports.main}`,
      enrollmentAddress: `127.0.0.1:${ports.enrollment}`,
      serverNames: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
      keepalive: options.keepalive ?? { timeMs: 1_000, timeoutMs: 1_000 },
      helloTimeoutMs: options.helloTimeoutMs ?? 2_000,
      // Tests enrol many times from one address: generous unless a test is about the limits.
      enrolmentLimits: options.enrolmentLimits ?? { perAddress: { burst: 1_000, perSecond: 1_000 }, global: { burst: 1_000, perSecond: 1_000 } },
      shutdownGraceMs: 500,
      log,
    });
  let gateway = make();
  await gateway.start();
  let running = true;
  const hub: TestHub = {
    pki,
    tokens,
    core,
    sites,
    assignments,
    sessions,
    get gateway() {
      return gateway;
    },
    ports,
    async issueToken(site, ttlSeconds) {
      let uid: string | undefined;
      const deadline = Date.now() + 10_000;
      while (!(uid = sites.get(site)?.metadata.uid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!uid) throw new Error(`no Site ${site} in the cache`);
      return tokens.issue({ name: site, uid }, ttlSeconds);
    },
    async stopGateway() {
      if (running) await gateway.stop();
      running = false;
    },
    async startGateway() {
      gateway = make();
      await gateway.start();
      running = true;
    },
    async stop() {
      await hub.stopGateway();
      sites.stop();
    },
  };
  return hub;
}

/** Creates (or updates) a Site at the hub. */
export async function applySite(kubectl: (args: string[], stdin?: string) => Promise<string>, name: string, spec: Partial<Site['spec']> = {}): Promise<void> {
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name }, spec }));
}

/**
 * The scheduler's part at a hospital whose kwok node runs pods: binds every pending pod to `node`
 * every 200 ms. Returns the stop.
 */
export function bindPendingPods(site: ControlPlane, node: string): () => void {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(site.kubeconfig);
  const bind = async () => {
    const pods = await kubeRequest<{ items: Pod[] }>(kc, { method: 'GET', path: '/api/v1/pods', query: { fieldSelector: 'spec.nodeName=' } }).catch(() => ({ items: [] }));
    for (const pod of pods.items) {
      if (pod.metadata?.deletionTimestamp) continue;
      const { name, namespace } = pod.metadata!;
      await kubeRequest(kc, {
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/pods/${name}/binding`,
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: node } },
      }).catch(() => undefined);
    }
  };
  const timer = setInterval(() => void bind(), 200);
  return () => clearInterval(timer);
}

/**
 * A namespace at the hospital where Pod Security "restricted" is enforced, and the path of a
 * kubeconfig holding only the agent's Role there.
 */
export async function agentNamespace(site: ControlPlane, namespace: string): Promise<string> {
  await site.kubectl(['create', 'namespace', namespace]);
  await site.kubectl(['label', 'namespace', namespace, 'pod-security.kubernetes.io/enforce=restricted']);
  await site.kubectl(['create', 'serviceaccount', 'flotilla-site-agent', '-n', namespace]);
  await site.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [siteAgentRole(namespace), siteAgentRoleBinding(namespace, 'flotilla-site-agent')] }));
  const token = (await site.kubectl(['create', 'token', 'flotilla-site-agent', '-n', namespace, '--duration=2h'])).trim();
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'site', cluster: { server: site.server, 'certificate-authority-data': Buffer.from(site.caPem).toString('base64') } }],
    users: [{ name: 'agent', user: { token } }],
    contexts: [{ name: 'agent', context: { cluster: 'site', user: 'agent', namespace } }],
    'current-context': 'agent',
  };
  const file = join(site.dir, `${namespace}.kubeconfig`);
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A relay that can freeze: bytes stop flowing both ways while the sockets stay open (a dead peer). */
export class FreezableProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly server = createServer((client) => this.relay(client));
  port = 0;
  /** Connections accepted so far: how often the peer dialled. */
  connections = 0;

  private constructor(private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<FreezableProxy> {
    const proxy = new FreezableProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  freeze(): void {
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    this.connections++;
    const upstream = connect(this.targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    for (const socket of pair) socket.on('error', () => undefined);
    client.once('close', () => {
      upstream.destroy();
      this.pairs.delete(pair);
    });
    upstream.once('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  }
}
