/**
 * What the workload controller last applied of each object, so that a pass which would send the
 * same object again sends nothing: a server-side apply that changes nothing is still a write
 * request, and at a thousand jobs those were most of the hub's writes.
 *
 * An apply is skipped only when this process applied the very same object (its whole text, owner
 * reference and all) and, for a kind the operator caches (Deployments, Services), the cached copy
 * still holds every field sent: an edit by anyone else, or a deletion, brings the apply back on the
 * pass its cache event wakes. A cache that has no copy yet, just after the apply, is taken to be
 * catching up: a pass woken by another event then (the finalizer's, a status write) sent the
 * Deployment and Service a second time. The operator may not read ConfigMaps or claims (hub/rbac.ts), so for
 * those the record lasts RECORD_TTL_MS: a copy someone changed is put back within that time (the
 * workload looks at every job at least hourly). A restarted operator applies everything once.
 */
import { refOf, type KubernetesObject } from '../../kube/resources.js';

export const RECORD_TTL_MS = 3_600_000;
/** How long a cache may lag behind an apply before the object's absence from it counts. */
export const CACHE_CATCH_UP_MS = 10_000;

export class AppliedObjects {
  private readonly applied = new Map<string, { text: string; at: number }>();

  constructor(
    private readonly ttlMs = RECORD_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether applying `desired` again would change nothing. `cached`: the kind's cached copy
   * (undefined when the cache has none); leave it out for kinds the operator does not cache.
   */
  unchanged(desired: KubernetesObject, ...cached: [KubernetesObject | undefined] | []): boolean {
    const record = this.applied.get(keyOf(desired));
    if (!record || record.text !== JSON.stringify(desired)) return false;
    // Not in the cache yet, just after the apply: its add event brings the job back to compare.
    // A deletion is told by forget() (the cache's delete event), not by this absence.
    if (cached.length > 0) return cached[0] === undefined ? this.now() - record.at < CACHE_CATCH_UP_MS : holds(cached[0], desired);
    return this.now() - record.at < this.ttlMs;
  }

  /** Whether this process wrote the object, in whatever content (and has not forgotten it). */
  has(obj: KubernetesObject): boolean {
    return this.applied.has(keyOf(obj));
  }

  /** `desired` was applied just now. */
  record(desired: KubernetesObject): void {
    this.applied.set(keyOf(desired), { text: JSON.stringify(desired), at: this.now() });
  }

  /** Forgets an object (deleted, or its write failed). */
  forget(obj: KubernetesObject): void {
    this.applied.delete(keyOf(obj));
  }

  /** Forgets every object of a namespace whose name is one of `names` (a job's, when it goes). */
  forgetNames(namespace: string, names: string[]): void {
    for (const key of this.applied.keys()) {
      const [, ns, name] = key.split('/');
      if (ns === namespace && names.includes(name!)) this.applied.delete(key);
    }
  }

  get size(): number {
    return this.applied.size;
  }
}

function keyOf(obj: KubernetesObject): string {
  const ref = refOf(obj);
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/**
 * Whether `actual` holds every field of `desired` with its value (fields the server added, such as
 * defaults, do not matter); lists must match item for item.
 */
export function holds(actual: unknown, desired: unknown): boolean {
  if (desired === null || typeof desired !== 'object') return actual === desired;
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => holds(actual[i], d));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => v === undefined || holds(a[k], v));
}
