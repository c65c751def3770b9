/**
 * The Node a process kubelet stands for: registered Ready, its Lease in kube-node-lease renewed
 * every 10 s as a kubelet's is, so kube-controller-manager's node lifecycle controller never marks
 * it unreachable (and evicts its pods).
 */
import type * as k8s from '@kubernetes/client-node';
import { rfc3339 } from '../../operator/kube/conditions.js';
import { isAlreadyExists, isNotFound, kubeRequest } from '../../operator/kube/request.js';

const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;

export class FakeNode {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly kc: k8s.KubeConfig,
    readonly name: string,
  ) {}

  static async register(kc: k8s.KubeConfig, name: string, hostIP: string, podCIDR: string): Promise<FakeNode> {
    const node = new FakeNode(kc, name);
    const body = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'flotilla.dev/process-kubelet': 'true' } },
      spec: { podCIDR, podCIDRs: [podCIDR] },
    };
    try {
      await kubeRequest(kc, { method: 'POST', path: '/api/v1/nodes', body });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    await node.reportReady(hostIP);
    await node.renew();
    node.timer = setInterval(() => void node.renew().catch(() => undefined), RENEW_MS);
    node.timer.unref();
    return node;
  }

  /** Stops heartbeats and removes the Node. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await kubeRequest(this.kc, { method: 'DELETE', path: `/api/v1/nodes/${this.name}` }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  private async reportReady(hostIP: string): Promise<void> {
    const now = rfc3339(new Date());
    const condition = (type: string, status: string, reason: string) => ({ type, status, reason, message: reason, lastHeartbeatTime: now, lastTransitionTime: now });
    const capacity = { cpu: '64', memory: '256Gi', pods: '250', 'ephemeral-storage': '100Gi' };
    await kubeRequest(this.kc, {
      method: 'PATCH',
      path: `/api/v1/nodes/${this.name}/status`,
      contentType: 'application/strategic-merge-patch+json',
      body: {
        status: {
          capacity,
          allocatable: capacity,
          addresses: [
            { type: 'InternalIP', address: hostIP },
            { type: 'Hostname', address: this.name },
          ],
          conditions: [
            condition('Ready', 'True', 'KubeletReady'),
            condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
            condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
            condition('PIDPressure', 'False', 'KubeletHasSufficientPID'),
          ],
          nodeInfo: {
            kubeletVersion: 'process-kubelet',
            containerRuntimeVersion: 'process://local',
            operatingSystem: 'linux',
            architecture: process.arch === 'x64' ? 'amd64' : process.arch,
            kernelVersion: '',
            osImage: 'local processes',
            kubeProxyVersion: '',
            machineID: '',
            systemUUID: '',
            bootID: '',
          },
        },
      },
    });
  }

  private async renew(): Promise<void> {
    // MicroTime: RFC 3339 with microseconds.
    const renewTime = new Date().toISOString().replace(/Z$/, '000Z');
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`;
    const spec = { holderIdentity: this.name, leaseDurationSeconds: LEASE_SECONDS, renewTime };
    try {
      await kubeRequest(this.kc, { method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { spec } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await kubeRequest(this.kc, {
        method: 'POST',
        path: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: 'kube-node-lease' }, spec },
      });
    }
  }
}
