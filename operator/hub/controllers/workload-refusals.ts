/**
 * What the API server last refused of each job's objects at the hub. The workload controller
 * records a refusal when a write of it is refused and clears it once a pass made everything; the
 * status controller, the one writer of a job's status, reports it (a condition and a Warning
 * Event). In memory on the leader: a new leader's first workload pass finds the refusal again.
 */
import type { Refusal } from '../../kube/refusal.js';

export class WorkloadRefusals {
  private readonly byJob = new Map<string, { uid: string; refusal: Refusal }>();
  private readonly listeners = new Set<(key: string) => void>();

  /** The refusal standing against this incarnation of the job. */
  get(key: string, uid: string | undefined): Refusal | undefined {
    const entry = this.byJob.get(key);
    return entry && entry.uid === uid ? entry.refusal : undefined;
  }

  set(key: string, uid: string, refusal: Refusal): void {
    const entry = this.byJob.get(key);
    if (entry && entry.uid === uid && JSON.stringify(entry.refusal) === JSON.stringify(refusal)) return;
    this.byJob.set(key, { uid, refusal });
    this.notify(key);
  }

  clear(key: string): void {
    if (this.byJob.delete(key)) this.notify(key);
  }

  /** Called with the job's key whenever its refusal appears, changes or goes. */
  onChange(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(key: string): void {
    for (const listener of this.listeners) listener(key);
  }
}
