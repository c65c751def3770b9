/**
 * The network of the real test nodes: each node in a network namespace of its own (so kubelets'
 * iptables chains, kube-proxies' nftables tables, bridges and ports never meet), all of them and
 * the host joined by veth pairs to one bridge in a namespace of its own, the fabric:
 *
 *   host         flotilla-rn0 10.210.0.1 ---+
 *   node 1       eth0 10.210.0.11 ----------+-- br0 in netns flotilla-rn-fabric
 *   node 2       eth0 10.210.0.12 ----------+
 *   load balancers: extra addresses 10.210.0.100-199 on a node's eth0
 *
 * The host only switches (br0 is not in its namespace; its ip_forward is untouched) and the node
 * namespaces have no default route, so nothing from a node or a pod can leave the machine. Each
 * node's pods get 10.211.<n>.0/24 and its Services 10.212.<n>.0/24; the host routes both to the node.
 */
import { readdir } from 'node:fs/promises';
import { run, runIn } from './run.js';

export const NETNS_PREFIX = 'flotilla-rn-';
const FABRIC_NETNS = `${NETNS_PREFIX}fabric`;
const HOST_LINK = 'flotilla-rn0';
export const HOST_IP = '10.210.0.1';
export const FABRIC_CIDR = '10.210.0.0/24';
const FABRIC_PREFIX = 24;
const LOAD_BALANCER_POOL = { first: 100, last: 199 };

export interface NodeNetwork {
  /** The node's network namespace (/run/netns/NAME). */
  netns: string;
  /** Its address on the fabric: the Node's InternalIP, reachable from the host and the other nodes. */
  nodeIP: string;
  podCIDR: string;
  /** The pod bridge's address: pods' gateway to the node. */
  podGateway: string;
  serviceCIDR: string;
}

/** The addresses of node n (1..89) of cluster `cluster`. */
export function nodeNetwork(n: number, cluster: string): NodeNetwork {
  return {
    netns: `${NETNS_PREFIX}${cluster}`,
    nodeIP: `10.210.0.${10 + n}`,
    podCIDR: `10.211.${n}.0/24`,
    podGateway: `10.211.${n}.1`,
    serviceCIDR: `10.212.${n}.0/24`,
  };
}

/** The n-th load-balancer address (0-based) of the fabric. */
export function loadBalancerAddress(n: number): string {
  const host = LOAD_BALANCER_POOL.first + n;
  if (host > LOAD_BALANCER_POOL.last) throw new Error('the load-balancer address pool of the real-node fabric is exhausted');
  return `10.210.0.${host}`;
}

/** The fabric bridge and the host's link to it. */
export async function createFabric(): Promise<void> {
  await run('ip', ['netns', 'add', FABRIC_NETNS]);
  await runIn(FABRIC_NETNS, 'ip', ['link', 'set', 'lo', 'up']);
  await runIn(FABRIC_NETNS, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
  await runIn(FABRIC_NETNS, 'ip', ['link', 'set', 'br0', 'up']);
  await run('ip', ['link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', 'host', 'netns', FABRIC_NETNS]);
  await runIn(FABRIC_NETNS, 'ip', ['link', 'set', 'host', 'master', 'br0', 'up']);
  await run('ip', ['addr', 'add', `${HOST_IP}/${FABRIC_PREFIX}`, 'dev', HOST_LINK]);
  await run('ip', ['link', 'set', HOST_LINK, 'up']);
}

/** Node n's namespace, with eth0 on the fabric. */
export async function createNodeNamespace(n: number, network: NodeNetwork): Promise<void> {
  const port = `n${n}`;
  await run('ip', ['netns', 'add', network.netns]);
  await runIn(network.netns, 'ip', ['link', 'set', 'lo', 'up']);
  await runIn(FABRIC_NETNS, 'ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', network.netns]);
  await runIn(FABRIC_NETNS, 'ip', ['link', 'set', port, 'master', 'br0', 'up']);
  await runIn(network.netns, 'ip', ['addr', 'add', `${network.nodeIP}/${FABRIC_PREFIX}`, 'dev', 'eth0']);
  await runIn(network.netns, 'ip', ['link', 'set', 'eth0', 'up']);
}

/**
 * Routes the host to the node's pods and Services, through the node: processes on the host (an
 * operator reading an aggregator's /status at its pod IP, a test) reach them as a pod of the cluster
 * would. The routes go with the host's link.
 */
export async function routeHostToNode(network: NodeNetwork): Promise<void> {
  for (const range of [network.podCIDR, network.serviceCIDR]) await run('ip', ['route', 'add', range, 'via', network.nodeIP]);
}

/** Makes a node answer for a load-balancer address (kube-proxy then forwards it to the Service). */
export async function addNodeAddress(network: NodeNetwork, address: string): Promise<void> {
  await runIn(network.netns, 'ip', ['addr', 'add', `${address}/32`, 'dev', 'eth0']);
}

/** Deletes the host's link and every namespace of ours (their links, bridges and rules go with them). */
export async function deleteNetworks(): Promise<void> {
  await run('ip', ['link', 'del', HOST_LINK]).catch(() => undefined);
  const names = await readdir('/run/netns').catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(NETNS_PREFIX))) await run('ip', ['netns', 'del', name]);
}
