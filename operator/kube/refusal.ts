/**
 * An API server's "no" to a write: which object, and the server's own words, so that whoever reports
 * it (a condition, an Event, a site's status) names the object and quotes the cluster. Refusals are
 * what admission says (quota, Pod Security, ValidatingAdmissionPolicy, webhooks), what RBAC says,
 * and what validation says; an unwell server (5xx, timeouts), a conflict or throttling is not one.
 */
import { ApiError } from './request.js';
import type { ObjectRef } from './resources.js';
import { TerminalError } from './workqueue.js';

export interface Refusal {
  kind: string;
  namespace?: string;
  name: string;
  /** HTTP status and metav1.Status reason: 403 Forbidden, 422 Invalid, ... */
  code: number;
  reason: string;
  /** The API server's message, as it said it. */
  words: string;
  /**
   * The object itself breaks the API's validation (every cause names a field): only a different
   * object can pass, so retrying the same one cannot help. Admission denials name no field.
   */
  invalid: boolean;
}

const REFUSAL_CODES = new Set([400, 403, 413, 422]);

export function refusalOf(error: unknown, ref: ObjectRef): Refusal | undefined {
  if (!(error instanceof ApiError) || !REFUSAL_CODES.has(error.statusCode)) return undefined;
  const causes = (error.status?.details as { causes?: { field?: string }[] } | undefined)?.causes ?? [];
  return {
    kind: ref.kind,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    name: ref.name,
    code: error.statusCode,
    reason: error.reason,
    words: error.status?.message ?? error.message,
    invalid: error.statusCode === 422 && causes.length > 0 && causes.every((c) => Boolean(c.field)),
  };
}

/** "the API server refused Deployment research/heart-aggregator: <its words>" */
export function describeRefusal(r: Refusal, server = 'the API server'): string {
  return `${server} refused ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}: ${r.words}`;
}

/** A refused write, as an error that says so; a TerminalError when retrying cannot help. */
export class ObjectRefused extends Error {
  override name = 'ObjectRefused';
  constructor(
    readonly refusal: Refusal,
    server?: string,
  ) {
    super(describeRefusal(refusal, server));
  }
}

/**
 * Runs a write of `ref`; a refusal comes back as ObjectRefused (inside a TerminalError when the object
 * is invalid), other failures as they were.
 */
export async function refusedAs<T>(ref: ObjectRef, write: () => Promise<T>, server?: string): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const refusal = refusalOf(error, ref);
    if (!refusal) throw error;
    const refused = new ObjectRefused(refusal, server);
    throw refusal.invalid ? new TerminalError(refused.message, { cause: refused }) : refused;
  }
}

/** The refusal an error is, or was caused by. */
export function refusalIn(error: unknown): Refusal | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof ObjectRefused) return e.refusal;
  }
  return undefined;
}
