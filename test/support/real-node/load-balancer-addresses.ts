/**
 * What a cloud or MetalLB does for Services of type LoadBalancer, on the real-node fabric: each gets
 * an address of the fabric's pool, added to its cluster's node and written to
 * status.loadBalancer.ingress. The node's kube-proxy forwards that address to the Service's
 * endpoints, so the host and other clusters' pods reach it as a hospital reaches a hub.
 */
import * as k8s from '@kubernetes/client-node';
import { Informer, objectKey } from '../../../operator/kube/informer.js';
import { isNotFound, kubeRequest } from '../../../operator/kube/request.js';
import { runWorkers, WorkQueue } from '../../../operator/kube/workqueue.js';
import { createLogger } from '../../../operator/log.js';

type Service = Omit<k8s.V1Service, 'metadata'> & { metadata?: { name?: string; namespace?: string } };

const log = createLogger('real-node-load-balancers');

export class LoadBalancerAddresses {
  private readonly services: Informer<Service>;
  private readonly queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 5_000 });
  private readonly assigned = new Map<string, string>();
  private workers: Promise<void> | undefined;

  private constructor(
    private readonly kc: k8s.KubeConfig,
    /** A new address of the pool, made to reach the cluster's node. */
    private readonly allocate: () => Promise<string>,
  ) {
    this.services = new Informer<Service>(kc, { group: '', version: 'v1', plural: 'services' }, { logger: log });
  }

  static async start(kubeconfig: string, allocate: () => Promise<string>): Promise<LoadBalancerAddresses> {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(kubeconfig);
    const balancers = new LoadBalancerAddresses(kc, allocate);
    balancers.services.onEvent((_type, service) => balancers.queue.add(objectKey(service)));
    await balancers.services.start();
    balancers.workers = runWorkers(balancers.queue, 1, (key) => balancers.sync(key), { controller: 'real-node-lb', logger: log });
    return balancers;
  }

  private async sync(key: string): Promise<void> {
    const service = this.services.get(key);
    if (service?.spec?.type !== 'LoadBalancer') return;
    // A Service keeps its address for as long as this cluster lives, as a cloud load balancer does.
    let ip = this.assigned.get(key);
    if (!ip) {
      ip = await this.allocate();
      this.assigned.set(key, ip);
    }
    if (service.status?.loadBalancer?.ingress?.[0]?.ip === ip) return;
    await kubeRequest(this.kc, {
      method: 'PATCH',
      path: `/api/v1/namespaces/${service.metadata!.namespace}/services/${service.metadata!.name}/status`,
      contentType: 'application/merge-patch+json',
      body: { status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } },
    }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    this.services.stop();
    await this.workers;
  }
}
