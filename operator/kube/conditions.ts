import { bounded, MAX_CONDITION_MESSAGE } from '../api/bounds.js';

/** metav1.Condition, the shape every status condition of ours takes. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  /** RFC 3339, seconds precision; moves only when `status` moves. */
  lastTransitionTime: string;
  /** CamelCase, machine-readable. */
  reason: string;
  message: string;
}

/** A condition as a reconcile computes it; setCondition supplies lastTransitionTime. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };

/** metav1.Time: RFC 3339 without fractional seconds. */
export function rfc3339(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Returns a new list with `next` set: replacing the condition of the same type in place, or
 * appended. lastTransitionTime is kept while the status stays the same and becomes `now` when it
 * changes (or when the condition is new and `next` gives none). The message is cut to the bound of
 * metav1.Condition's (and our CRDs') schema.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionUpdate,
  now: Date = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const current = index >= 0 ? list[index] : undefined;
  const lastTransitionTime =
    current && current.status === next.status ? current.lastTransitionTime : (next.lastTransitionTime ?? rfc3339(now));
  const condition: Condition = { ...next, message: bounded(next.message, MAX_CONDITION_MESSAGE), lastTransitionTime };
  if (index >= 0) list[index] = condition;
  else list.push(condition);
  return list;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/**
 * Deep equality of two statuses as JSON sees them: object key order does not matter, and a property
 * that is undefined equals one that is absent (neither is serialized). Array order matters.
 */
export function equalStatus(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => equalStatus(item, b[i]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  for (const key of keys) {
    if (!equalStatus(left[key], right[key])) return false;
  }
  return true;
}
