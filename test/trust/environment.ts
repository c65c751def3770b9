/**
 * The world the trust suite attacks, every part real: a hub control plane (with
 * kube-controller-manager) running the operator as a process with exactly its RBAC, two tenants
 * with `edit` in one namespace each and a job each, the aggregators run "in their pods" by a
 * process kubelet, and a hospital control plane with two site agents (alpha and bravo), each in its
 * namespace with the agent's Role. The agents reach the gateway through a proxy the tests can turn
 * towards a fake hub.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../../operator/api/crds.js';
import { eventually } from '../support/eventually.js';
import { createLogger } from '../../operator/log.js';
import { startSiteAgent, type SiteAgent } from '../../operator/site/main.js';
import { parsePolicy } from '../../operator/site/policy.js';
import { siteAgentRole, siteAgentRoleBinding } from '../../operator/site/rbac.js';
import { startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { freePort, startOperator, type OperatorProcess } from '../support/operator-process.js';
import { ProcessKubelet } from '../support/process-kubelet.js';
import { tenantRoles } from '../../operator/hub/rbac.js';
import { operatorServiceAccount, tenantWithEdit, type Tenant } from './identities.js';
import { SwitchableProxy } from './switchable-proxy.js';

export const OPERATOR_NS = 'flotilla-system';
/** Tenant A's namespace and job, and tenant B's. */
export const TENANTS = { a: { namespace: 'research', job: 'heart' }, b: { namespace: 'oncology', job: 'lungs' } } as const;
export const SITES = ['alpha', 'bravo'] as const;
export type SiteName = (typeof SITES)[number];

export interface Agent {
  site: SiteName;
  namespace: string;
  stateDir: string;
  kubeconfig: string;
  running?: SiteAgent;
}

export interface TrustWorld {
  hub: ControlPlane;
  hubKc: KubeConfig;
  site: ControlPlane;
  siteKc: KubeConfig;
  kubelet: ProcessKubelet;
  operator: OperatorProcess;
  tenants: { a: Tenant; b: Tenant };
  agents: Record<SiteName, Agent>;
  /** What the agents dial as the hub: the gateway, until a test points it elsewhere. */
  hubProxy: SwitchableProxy;
  gatewayPort: number;
  enrollmentPort: number;
  /** kubectl as the hub's admin. */
  kubectl(...args: string[]): Promise<string>;
  /** (Re)starts a site agent; with a bundle it enrols first. */
  startAgent(site: SiteName, bundle?: string): Promise<SiteAgent>;
  /** The join bundle the operator made for a Site. */
  bundleOf(site: string): Promise<string>;
  stop(): Promise<void>;
}

function job(namespace: string, name: string) {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace },
    spec: {
      sites: { names: [...SITES] },
      // Long enough never to end while the suite runs: no site trains, the aggregators wait.
      rounds: 100,
      minSites: 2,
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } },
    },
  };
}

export async function startTrustWorld(): Promise<TrustWorld> {
  const [hub, site] = await Promise.all([
    startControlPlane({ name: 'trust-hub', withControllerManager: true }),
    startControlPlane({ name: 'trust-site' }),
  ]);
  const agentsStarted: Agent[] = [];
  const stops: (() => Promise<unknown>)[] = [() => site.stop(), () => hub.stop()];
  const stopAll = async () => {
    for (const agent of agentsStarted) await agent.running?.stop().catch(() => undefined);
    for (const stop of stops.splice(0)) await stop().catch(() => undefined);
  };
  try {
    const kubectl = (...args: string[]) => hub.kubectl(args);
    await hub.kubectl(['apply', '--server-side', '-f', path.join(packageRoot, 'crds')]);
    await hub.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    for (const ns of [OPERATOR_NS, TENANTS.a.namespace, TENANTS.b.namespace]) await kubectl('create', 'namespace', ns);
    await hub.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: tenantRoles() }));
    const [a, b] = await Promise.all([tenantWithEdit(hub, 'tenant-a', TENANTS.a.namespace), tenantWithEdit(hub, 'tenant-b', TENANTS.b.namespace)]);
    // `edit` is filled in by kube-controller-manager: wait until it grants what it should.
    const can = (...args: string[]) => a.kubectl(['auth', 'can-i', ...args]).then((t) => t.trim() === 'yes', () => false);
    await eventually(async () => (await can('get', 'secrets')) && (await can('create', 'federatedjobs.flotilla.dev')), 60_000, 'edit to be aggregated');

    const kubelet = await ProcessKubelet.start({ kubeconfig: hub.kubeconfig, namespaces: [TENANTS.a.namespace, TENANTS.b.namespace] });
    stops.unshift(() => kubelet.stop());
    const [gatewayPort, enrollmentPort] = [await freePort(), await freePort()];
    const hubProxy = await SwitchableProxy.start(gatewayPort);
    stops.unshift(() => hubProxy.close());
    const operatorKubeconfig = await operatorServiceAccount(hub, OPERATOR_NS);
    const operator = await startOperator({
      kubeconfigPath: operatorKubeconfig,
      namespace: OPERATOR_NS,
      identity: 'operator-0',
      logFile: join(hub.dir, 'operator.log'),
      gatewayPort,
      enrollmentPort,
      args: ['--aggregator-service-type=LoadBalancer', `--gateway-address=127.0.0.1:${hubProxy.port}`, `--enrollment-address=127.0.0.1:${enrollmentPort}`],
    });
    stops.unshift(() => operator.stop(10_000));
    await eventually(() => operator.isReady(), 90_000, 'the operator to lead');

    const hubKc = new KubeConfig();
    hubKc.loadFromString(hub.kubeconfig);
    const siteKc = new KubeConfig();
    siteKc.loadFromString(site.kubeconfig);
    const agents = {} as Record<SiteName, Agent>;
    for (const name of SITES) agentsStarted.push((agents[name] = await agentNamespace(site, name)));

    const bundleOf = async (name: string) =>
      Buffer.from(await kubectl('get', 'secret', `flotilla-join-bundle-${name}`, `--namespace=${OPERATOR_NS}`, '--output=jsonpath={.data.bundle}'), 'base64').toString();
    const world: TrustWorld = {
      hub,
      hubKc,
      site,
      siteKc,
      kubelet,
      operator,
      tenants: { a, b },
      agents,
      hubProxy,
      gatewayPort,
      enrollmentPort,
      kubectl,
      bundleOf,
      async startAgent(name, bundle) {
        const agent = agents[name];
        await agent.running?.stop().catch(() => undefined);
        const log = createLogger(`site-agent-${name}`);
        log.level = 'error';
        agent.running = await startSiteAgent({
          ...(bundle ? { joinBundle: async () => bundle } : {}),
          namespace: agent.namespace,
          stateDir: agent.stateDir,
          kubeconfig: agent.kubeconfig,
          policy: parsePolicy({ allowedJobNamespaces: [TENANTS.a.namespace, TENANTS.b.namespace], allowedImages: ['ghcr.io/flotilla-dev/**'], trainers: { builtin: true } }),
          siteDataClaim: 'site-data',
          backoff: { baseMs: 200, maxMs: 1_000 },
          keepalive: { timeMs: 1_000, timeoutMs: 1_000 },
          log,
        });
        return agent.running;
      },
      stop: stopAll,
    };

    for (const name of SITES) await hub.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name }, spec: { allowedNamespaces: [TENANTS.a.namespace, TENANTS.b.namespace] } }));
    for (const name of SITES) {
      await eventually(() => bundleOf(name).then((b) => b.length > 0), 30_000, `the join bundle of ${name}`);
      await world.startAgent(name, await bundleOf(name));
    }
    // Each tenant's job, applied as that tenant.
    await a.kubectl(['apply', '-f', '-'], JSON.stringify(job(TENANTS.a.namespace, TENANTS.a.job)));
    await b.kubectl(['apply', '-f', '-'], JSON.stringify(job(TENANTS.b.namespace, TENANTS.b.job)));
    return world;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A namespace of the hospital's cluster for one agent, and a kubeconfig holding only the agent's Role there. */
async function agentNamespace(site: ControlPlane, name: SiteName): Promise<Agent> {
  const namespace = `site-${name}`;
  await site.kubectl(['create', 'namespace', namespace]);
  await site.kubectl(['create', 'serviceaccount', 'flotilla-site-agent', '-n', namespace]);
  await site.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [siteAgentRole(namespace), siteAgentRoleBinding(namespace, 'flotilla-site-agent')] }));
  const token = (await site.kubectl(['create', 'token', 'flotilla-site-agent', '-n', namespace, '--duration=3h'])).trim();
  const kubeconfig = join(site.dir, `${namespace}.kubeconfig`);
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'site', cluster: { server: site.server, 'certificate-authority-data': Buffer.from(site.caPem).toString('base64') } }],
      users: [{ name: 'agent', user: { token } }],
      contexts: [{ name: 'agent', context: { cluster: 'site', user: 'agent', namespace } }],
      'current-context': 'agent',
    }),
    { mode: 0o600 },
  );
  return { site: name, namespace, stateDir: join(site.dir, `${namespace}-state`), kubeconfig };
}
