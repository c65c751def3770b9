/**
 * What last stood in the way of each job's objects at the hub: what the API server refused of
 * them, or an object of one of their names that is someone else's (a conflict, owned-objects.ts).
 * The workload controller records it when a write is refused or a name is taken, and clears it once
 * a pass made everything; the status controller, the one writer of a job's status, reports it (a
 * condition and a Warning Event). In memory on the leader: a new leader's first workload pass finds
 * it again.
 */
import type { Refusal } from '../../kube/refusal.js';

type Entry = { uid: string; refusal: Refusal; conflict?: undefined } | { uid: string; conflict: string; refusal?: undefined };

export class WorkloadRefusals {
  private readonly byJob = new Map<string, Entry>();
  private readonly listeners = new Set<(key: string) => void>();

  /** The refusal standing against this incarnation of the job. */
  get(key: string, uid: string | undefined): Refusal | undefined {
    const entry = this.byJob.get(key);
    return entry && entry.uid === uid ? entry.refusal : undefined;
  }

  /** The conflict standing against this incarnation of the job: which object, and whose. */
  conflict(key: string, uid: string | undefined): string | undefined {
    const entry = this.byJob.get(key);
    return entry && entry.uid === uid ? entry.conflict : undefined;
  }

  set(key: string, uid: string, refusal: Refusal): void {
    this.put(key, { uid, refusal });
  }

  setConflict(key: string, uid: string, conflict: string): void {
    this.put(key, { uid, conflict });
  }

  private put(key: string, next: Entry): void {
    if (JSON.stringify(this.byJob.get(key)) === JSON.stringify(next)) return;
    this.byJob.set(key, next);
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
