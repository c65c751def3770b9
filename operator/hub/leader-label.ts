/**
 * The leader marks its own pod `flotilla.dev/leader=true` and the gateway Service selects that
 * label, so agents reach the leader while every replica with synced caches reports ready (a
 * rollout or `helm --wait` with two replicas completes). A new leader first takes the label off any
 * other pod (a previous leader that died holding it); a leader stepping down takes its own off.
 * Outside a pod (an operator run as a process) there is no pod to mark: nothing to do.
 */
import type * as k8s from '@kubernetes/client-node';
import { isNotFound, kubeRequest } from '../kube/request.js';
import type { Logger } from '../log.js';

export const LEADER_LABEL = 'flotilla.dev/leader';

interface PodList {
  items: { metadata: { name: string } }[];
}

export class LeaderLabel {
  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly namespace: string,
    /** This replica's pod (its identity in the Lease). */
    private readonly pod: string,
    private readonly log: Logger,
  ) {}

  /** This pod carries the label, and no other does. */
  async mark(): Promise<void> {
    const labelled = await kubeRequest<PodList>(this.kc, {
      method: 'GET',
      path: `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${encodeURIComponent(`${LEADER_LABEL}=true`)}`,
    });
    for (const other of labelled.items.filter((p) => p.metadata.name !== this.pod)) await this.set(other.metadata.name, null);
    if (!(await this.set(this.pod, 'true'))) this.log.info('no pod of this name to mark as the leader (not running in a pod)', { pod: this.pod });
  }

  async unmark(): Promise<void> {
    await this.set(this.pod, null);
  }

  /** Whether the pod exists. */
  private async set(pod: string, value: 'true' | null): Promise<boolean> {
    try {
      await kubeRequest(this.kc, {
        method: 'PATCH',
        path: `/api/v1/namespaces/${this.namespace}/pods/${pod}`,
        contentType: 'application/merge-patch+json',
        body: { metadata: { labels: { [LEADER_LABEL]: value } } },
      });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }
}
