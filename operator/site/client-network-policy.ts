/**
 * Each client pod's own NetworkPolicy: nothing in, and out only to its job's aggregator (the
 * addresses its host resolves to, on its port) and, when that host is a name, to the cluster's DNS.
 * The records the pod reads can reach nothing else. The agent makes it before the pod and removes it
 * only once the pod is gone, so the pod never runs without it.
 *
 * A NetworkPolicy names addresses, not host names: the agent resolves the aggregator's host itself
 * and looks again every RESOLVE_EVERY_MS (client-reconciler.ts). A host that does not resolve gives
 * a policy with no address at all (the pod reaches nothing), not an open one.
 */
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import type { ObjectMeta } from '../kube/resources.js';
import { splitAddress } from '../process/address.js';
import type { Assignment } from '../sitelink/assignment.js';
import { clientLabels, clientObjectNames } from './client-objects.js';

export type NetworkPolicy = Omit<V1NetworkPolicy, 'metadata'> & { metadata?: ObjectMeta };

export const RESOLVE_EVERY_MS = 5 * 60_000;

/** The cluster DNS a client may ask: CoreDNS's (kube-dns) pods in kube-system, as nearly every cluster labels them. */
export const CLUSTER_DNS: V1NetworkPolicyPeer = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
};

/** Where a client may dial its aggregator. */
export interface AggregatorRoute {
  port: number;
  /** The IP addresses of the aggregator's host (empty when it did not resolve). */
  addresses: string[];
  /** The host is a name: the client asks DNS for it. */
  byName: boolean;
  /** Why there is no address, when there is none. */
  problem?: string;
}

export type Resolve = (host: string) => Promise<string[]>;

/** How long one DNS query is waited for, and how often it is asked, before a name is taken as not resolving. */
const QUERY_TIMEOUT_MS = 1_000;
const QUERY_TRIES = 3;

/**
 * Asks DNS for the host's A and AAAA records with c-ares, not getaddrinfo. getaddrinfo runs on
 * libuv's pool of four threads, which also does the agent's key generation and file writes: a DNS
 * server that drops a query holds a thread for the system resolver's 5 s retry, and with a thousand
 * new jobs a few dropped queries stalled every client's setup at once (docs/operator-scale.md).
 * c-ares waits on a socket instead, retries after QUERY_TIMEOUT_MS, and many names are asked at once.
 * The client pod finds its aggregator through the cluster's DNS, not through the agent's /etc/hosts,
 * so DNS is what the policy should follow; a name of one label (`localhost`, a hosts alias) is still
 * looked up as the system does, since DNS cannot answer it.
 */
export function dnsResolve(options: { servers?: string[] } = {}): Resolve {
  const resolver = new Resolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
  if (options.servers) resolver.setServers(options.servers);
  return async (host) => {
    if (!host.includes('.')) return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses = [v4, v6].flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    const failed = [v4, v6].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // Neither answered: why, from the A query (the one nearly every aggregator has).
    if (addresses.length === 0 && failed.length === 2) throw failed[0]!.reason as Error;
    return addresses;
  };
}

const resolveHost = dnsResolve();

export async function aggregatorRoute(address: string, resolve: Resolve = resolveHost): Promise<AggregatorRoute> {
  const parsed = splitAddress(address);
  if (!parsed || !parsed.host || parsed.port < 1 || parsed.port > 65535) {
    return { port: 0, addresses: [], byName: false, problem: `the aggregator address ${JSON.stringify(address)} is not HOST:PORT` };
  }
  const { host, port } = parsed;
  if (isIP(host)) return { port, addresses: [host], byName: false };
  try {
    const addresses = [...new Set(await resolve(host))].filter((ip) => isIP(ip)).sort();
    return { port, addresses, byName: true, ...(addresses.length === 0 ? { problem: `${host} resolves to no address` } : {}) };
  } catch (err) {
    return { port, addresses: [], byName: true, problem: `${host} does not resolve: ${(err as Error).message}` };
  }
}

export function clientNetworkPolicy(a: Assignment, namespace: string, route: AggregatorRoute): NetworkPolicy {
  const labels = clientLabels(a);
  const podSelector = { matchLabels: { ...labels, 'app.kubernetes.io/component': 'client' } };
  const egress: NonNullable<V1NetworkPolicy['spec']>['egress'] = [];
  if (route.addresses.length > 0) {
    egress.push({
      to: route.addresses.map((ip) => ({ ipBlock: { cidr: `${ip}/${isIP(ip) === 6 ? 128 : 32}` } })),
      ports: [{ protocol: 'TCP', port: route.port }],
    });
  }
  if (route.byName) {
    const dns: V1NetworkPolicyPort[] = [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ];
    egress.push({ to: [CLUSTER_DNS], ports: dns });
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: clientObjectNames(a).networkPolicy, namespace, labels },
    spec: { podSelector, policyTypes: ['Ingress', 'Egress'], ingress: [], egress },
  };
}
