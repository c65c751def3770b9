/**
 * A kubelet for tests, where no container runtime exists: it plays one Node of one cluster and runs
 * the pods of the given namespaces as LOCAL PROCESSES of this checkout's build, so end-to-end tests
 * run the aggregator and the sites' clients for real, "in their pods".
 *
 * - Node: registers a Ready Node and keeps its Lease (fake-node.ts).
 * - Scheduling: a pod of a watched namespace with no nodeName is bound to this Node (there is no
 *   scheduler in the test control planes).
 * - Containers: run as processes; image, command, paths and listen addresses are mapped as
 *   container-command.ts documents. Volumes as pod-volumes.ts documents. Each pod gets its own
 *   loopback address as pod IP (127.R.S.n, the block chosen at random per kubelet).
 * - Status: Pending -> Running -> Succeeded/Failed with container states, restart counts and
 *   readiness (httpGet/tcpSocket probes), written to pods/status as a kubelet does.
 * - Deletion: a pod marked for deletion gets SIGTERM, SIGKILL after its grace period, and is then
 *   removed for good; a pod removed outright has its processes killed at once.
 * - Services of type LoadBalancer get an address and a TCP relay to their ready pods (load-balancers.ts).
 *
 * Not modelled: init containers, resource limits, security contexts (processes run as the test's
 * user), exec/grpc probes, in-cluster API credentials for pods, network isolation.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { packageRoot } from '../../operator/api/crds.js';
import { Informer } from '../../operator/kube/informer.js';
import { isNotFound, kubeRequest } from '../../operator/kube/request.js';
import type { ObjectMeta } from '../../operator/kube/resources.js';
import { runWorkers, WorkQueue } from '../../operator/kube/workqueue.js';
import { createLogger } from '../../operator/log.js';
import { FakeNode } from './fake-node.js';
import { LoadBalancers, type Backend } from './load-balancers.js';
import { PodRun } from './pod-run.js';
import { claimPath } from './pod-volumes.js';

export interface ProcessKubeletOptions {
  /** The cluster, as kubeconfig YAML. */
  kubeconfig: string;
  /** Namespaces whose pods this kubelet runs. */
  namespaces: string[];
  nodeName?: string;
  /** Which images are the Flotilla image (default: an image whose repository's last segment is "flotilla"). */
  isFlotillaImage?(image: string): boolean;
  /** Extra environment for every process (PATH is the test's own). */
  env?: Record<string, string>;
}

/** Objects as the API server sends them (timestamps are strings). */
export type PodObject = Omit<k8s.V1Pod, 'metadata'> & { metadata?: ObjectMeta & { deletionGracePeriodSeconds?: number } };
type ServiceObject = Omit<k8s.V1Service, 'metadata'> & { metadata?: ObjectMeta };

const HOST_IP = '127.0.0.1';
const log = createLogger('process-kubelet');

export function defaultIsFlotillaImage(image: string): boolean {
  const repository = image.replace(/@.*$/, '').replace(/:[^/]*$/, '');
  return repository.split('/').pop() === 'flotilla';
}

export class ProcessKubelet {
  private readonly runs = new Map<string, PodRun>();
  private readonly pods: Informer<PodObject>[];
  private readonly services: Informer<ServiceObject>[];
  private readonly podQueue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 5_000 });
  private readonly serviceQueue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 5_000 });
  private readonly statusWrites = new Map<string, { latest?: Record<string, unknown>; writing: boolean }>();
  private readonly balancers: LoadBalancers;
  private readonly workers: Promise<void>[] = [];
  private readonly subnet = `127.${randomInt(100, 200)}.${randomInt(0, 256)}`;
  private nextHost = 2;
  private node: FakeNode | undefined;

  private constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly options: ProcessKubeletOptions,
    readonly nodeName: string,
    readonly root: string,
  ) {
    const source = (plural: string) => (namespace: string) => ({ group: '', version: 'v1', plural, namespace });
    const quiet = { logger: log };
    this.pods = options.namespaces.map((ns) => new Informer<PodObject>(kc, source('pods')(ns), quiet));
    this.services = options.namespaces.map((ns) => new Informer<ServiceObject>(kc, source('services')(ns), quiet));
    this.balancers = new LoadBalancers(kc, () => this.allocateIP(), (ns) => this.backends(ns));
  }

  static async start(options: ProcessKubeletOptions): Promise<ProcessKubelet> {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(options.kubeconfig);
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-kubelet-'));
    const kubelet = new ProcessKubelet(kc, options, options.nodeName ?? 'process-node', root);
    kubelet.node = await FakeNode.register(kc, kubelet.nodeName, HOST_IP, `${kubelet.subnet}.0/24`);
    for (const informer of kubelet.pods) informer.onEvent((_t, pod) => kubelet.podQueue.add(keyOf(pod)));
    for (const informer of kubelet.services) informer.onEvent((_t, svc) => kubelet.serviceQueue.add(keyOf(svc)));
    await Promise.all([...kubelet.pods, ...kubelet.services].map((i) => i.start()));
    kubelet.workers.push(
      runWorkers(kubelet.podQueue, 4, (key) => kubelet.syncPod(key), { controller: 'process-kubelet-pods', logger: log }),
      runWorkers(kubelet.serviceQueue, 1, (key) => kubelet.syncService(key), { controller: 'process-kubelet-lb', logger: log }),
    );
    return kubelet;
  }

  /** The host folder that stands for a PersistentVolumeClaim: put a site's data here before its pod starts. */
  claimPath(namespace: string, claim: string): string {
    return claimPath(this.root, namespace, claim);
  }

  /** A container's output so far (every run of it, restarts included). */
  async logs(namespace: string, pod: string, container?: string): Promise<string> {
    const run = this.runs.get(`${namespace}/${pod}`);
    if (!run) return '';
    const name = container ?? run.pod.spec!.containers[0]!.name;
    return readFile(run.logFile(name), 'utf8').catch(() => '');
  }

  /** Signals a running pod's containers (SIGSTOP freezes it as a hung node would, SIGCONT thaws it); false if it does not run here. */
  signalPod(namespace: string, pod: string, sig: NodeJS.Signals): boolean {
    const run = this.runs.get(`${namespace}/${pod}`);
    run?.signal(sig);
    return run !== undefined;
  }

  /** Kills every pod's processes, stops watching, removes the Node and the kubelet's folders. */
  async stop(): Promise<void> {
    this.podQueue.shutDown();
    this.serviceQueue.shutDown();
    [...this.pods, ...this.services].forEach((i) => i.stop());
    await Promise.all([...this.runs.values()].map((run) => run.stop(2)));
    this.runs.clear();
    this.balancers.stop();
    await Promise.all(this.workers);
    await this.node?.stop().catch(() => undefined);
    await rm(this.root, { recursive: true, force: true });
  }

  private podFromCache(key: string): PodObject | undefined {
    for (const informer of this.pods) {
      const pod = informer.get(key);
      if (pod) return pod;
    }
    return undefined;
  }

  private async syncPod(key: string): Promise<void> {
    const pod = this.podFromCache(key);
    const run = this.runs.get(key);
    if (run && (!pod || pod.metadata!.uid !== run.pod.metadata!.uid)) {
      // Removed outright (or replaced by a new pod of the same name): nothing waits for a grace period.
      this.runs.delete(key);
      await run.stop(0);
    }
    if (!pod) {
      this.statusWrites.delete(key);
      return;
    }
    const spec = pod.spec!;
    if (!spec.nodeName) {
      if ((spec.schedulerName ?? 'default-scheduler') === 'default-scheduler') await this.bind(pod);
      return;
    }
    if (spec.nodeName !== this.nodeName) return;
    const current = this.runs.get(key);
    if (pod.metadata!.deletionTimestamp) {
      log.debug('stopping a pod marked for deletion', { pod: key, running: Boolean(current) });
      if (current) await current.stop(pod.metadata!.deletionGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30);
      this.runs.delete(key);
      await this.finalDelete(pod);
      log.debug('pod removed', { pod: key });
      return;
    }
    if (current || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const podDir = path.join(this.root, 'pods', `${pod.metadata!.namespace}_${pod.metadata!.name}_${pod.metadata!.uid!.slice(0, 8)}`);
    const started = new PodRun(pod, {
      core: this.kc.makeApiClient(k8s.CoreV1Api),
      root: this.root,
      podDir,
      addresses: { podIP: this.allocateIP(), hostIP: HOST_IP },
      // The test run's compile cache too (package.json): a pod's CLI then loads in half the CPU.
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: podDir, ...(process.env.NODE_COMPILE_CACHE ? { NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE } : {}), ...this.options.env },
      isFlotillaImage: this.options.isFlotillaImage ?? defaultIsFlotillaImage,
      flotilla: [process.execPath, path.join(packageRoot, 'dist/operator/cli/main.js')],
      publish: (status) => this.writeStatus(pod, status),
    });
    this.runs.set(key, started);
    started.start();
  }

  private async bind(pod: PodObject): Promise<void> {
    const { namespace, name } = pod.metadata!;
    await kubeRequest(this.kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/pods/${name}/binding`,
      body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName } },
    }).catch((err: unknown) => {
      // Bound meanwhile, or gone: the next event says which.
      if (!isNotFound(err) && (err as { statusCode?: number }).statusCode !== 409) throw err;
    });
  }

  /** The kubelet's last word on a terminated pod: remove it for good. */
  private async finalDelete(pod: PodObject): Promise<void> {
    const { namespace, name, uid } = pod.metadata!;
    await kubeRequest(this.kc, {
      method: 'DELETE',
      path: `/api/v1/namespaces/${namespace}/pods/${name}`,
      body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } },
    }).catch((err: unknown) => {
      if (!isNotFound(err) && (err as { statusCode?: number }).statusCode !== 409) throw err;
    });
  }

  /** Writes a pod's latest status; writes for one pod never overlap, and only the newest is sent. */
  private writeStatus(pod: PodObject, status: Record<string, unknown>): void {
    const key = keyOf(pod);
    let entry = this.statusWrites.get(key);
    if (!entry) this.statusWrites.set(key, (entry = { writing: false }));
    entry.latest = status;
    if (entry.writing) return;
    entry.writing = true;
    const slot = entry;
    void (async () => {
      while (slot.latest) {
        const body = { status: slot.latest };
        slot.latest = undefined;
        await kubeRequest(this.kc, {
          method: 'PATCH',
          path: `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}/status`,
          contentType: 'application/strategic-merge-patch+json',
          body: { ...body, metadata: { uid: pod.metadata!.uid } },
        }).catch((err: unknown) => {
          if (!isNotFound(err) && (err as { statusCode?: number }).statusCode !== 409) log.warn('pod status not written', { pod: key, error: String(err) });
        });
      }
      slot.writing = false;
    })();
  }

  private async syncService(key: string): Promise<void> {
    const service = this.services.map((i) => i.get(key)).find(Boolean);
    await this.balancers.sync(key, service);
  }

  private backends(namespace: string): Backend[] {
    return [...this.runs.entries()]
      .filter(([, run]) => run.pod.metadata!.namespace === namespace && run.ready)
      .map(([key, run]) => ({
        podIP: run.podIP,
        // The pod's labels now, not as it started: labels change on running pods (the operator's leader label).
        labels: (this.podFromCache(key) ?? run.pod).metadata!.labels ?? {},
        ports: new Map(run.pod.spec!.containers.flatMap((c) => c.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort])),
      }));
  }

  private allocateIP(): string {
    if (this.nextHost > 254) throw new Error('process kubelet: out of pod addresses');
    return `${this.subnet}.${this.nextHost++}`;
  }
}

function keyOf(obj: { metadata?: { namespace?: string; name?: string } }): string {
  return `${obj.metadata!.namespace}/${obj.metadata!.name}`;
}
