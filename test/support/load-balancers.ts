/**
 * The process kubelet's stand-in for a cloud load balancer (as cloud-provider-kind is for kind):
 * every Service of type LoadBalancer gets a loopback address of its own, written to
 * status.loadBalancer.ingress, where each of its ports relays TCP to a ready pod the Service
 * selects among the pods this kubelet runs. No pod ready: the connection is refused (reset).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import { kubeRequest, isNotFound } from '../../operator/kube/request.js';

export interface Backend {
  podIP: string;
  labels: Record<string, string>;
  /** Container ports by name. */
  ports: Map<string, number>;
}

interface Balancer {
  ip: string;
  servers: Server[];
  sockets: Set<Socket>;
  /** The Service's ports and selector it was made for; a change rebuilds it. */
  shape: string;
}

export class LoadBalancers {
  private readonly balancers = new Map<string, Balancer>();

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly allocateIP: () => string,
    /** Ready pods of this kubelet in a namespace. */
    private readonly backends: (namespace: string) => Backend[],
  ) {}

  /** Makes the balancer of a Service match it (or removes it when the Service is gone or not a LoadBalancer). */
  async sync(key: string, service: Omit<k8s.V1Service, 'metadata'> & { metadata?: { namespace?: string } } | undefined): Promise<void> {
    const wanted = service?.spec?.type === 'LoadBalancer' ? service : undefined;
    const shape = wanted ? JSON.stringify([wanted.spec!.ports, wanted.spec!.selector]) : '';
    const existing = this.balancers.get(key);
    if (existing && existing.shape !== shape) {
      this.close(existing);
      this.balancers.delete(key);
    }
    if (!wanted) return;
    let balancer = this.balancers.get(key);
    if (!balancer) {
      // A changed Service keeps its address, as a cloud load balancer does.
      balancer = { ip: existing?.ip ?? this.allocateIP(), servers: [], sockets: new Set(), shape };
      this.balancers.set(key, balancer);
      const made = balancer;
      const listening = await Promise.allSettled((wanted.spec!.ports ?? []).map((port) => this.listen(made, wanted, port)));
      made.servers = listening.flatMap((l) => (l.status === 'fulfilled' ? [l.value] : []));
      const failed = listening.find((l): l is PromiseRejectedResult => l.status === 'rejected');
      if (failed) {
        // One port could not listen (taken on this machine): close the others, so that the retry
        // starts afresh rather than leave a half balancer nothing would ever close.
        this.close(made);
        this.balancers.delete(key);
        throw failed.reason;
      }
    }
    const ingress = wanted.status?.loadBalancer?.ingress?.[0]?.ip;
    if (ingress !== balancer.ip) {
      const [namespace, name] = key.split('/') as [string, string];
      await kubeRequest(this.kc, {
        method: 'PATCH',
        path: `/api/v1/namespaces/${namespace}/services/${name}/status`,
        contentType: 'application/merge-patch+json',
        body: { status: { loadBalancer: { ingress: [{ ip: balancer.ip, ipMode: 'VIP' }] } } },
      }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  stop(): void {
    for (const balancer of this.balancers.values()) this.close(balancer);
    this.balancers.clear();
  }

  private listen(balancer: Balancer, service: Omit<k8s.V1Service, 'metadata'> & { metadata?: { namespace?: string } }, port: k8s.V1ServicePort): Promise<Server> {
    const namespace = service.metadata!.namespace!;
    const selector = service.spec!.selector ?? {};
    const server = createServer((client) => {
      balancer.sockets.add(client);
      client.once('close', () => balancer.sockets.delete(client));
      const candidates = this.backends(namespace).filter((b) => Object.entries(selector).every(([k, v]) => b.labels[k] === v));
      const backend = candidates[Math.floor(Math.random() * candidates.length)];
      const target = backend && targetPort(port, backend);
      if (!backend || !target) return client.resetAndDestroy();
      const upstream = connect(target, backend.podIP);
      balancer.sockets.add(upstream);
      upstream.once('close', () => balancer.sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.once('error', () => upstream.destroy());
      upstream.once('error', () => client.resetAndDestroy());
    });
    return new Promise((resolve, reject) => server.once('error', reject).listen(port.port, balancer.ip, () => resolve(server)));
  }

  private close(balancer: Balancer): void {
    for (const server of balancer.servers) server.close();
    for (const socket of balancer.sockets) socket.destroy();
  }
}

function targetPort(port: k8s.V1ServicePort, backend: Backend): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  return backend.ports.get(target) ?? (/^\d+$/.test(target) ? Number(target) : undefined);
}
