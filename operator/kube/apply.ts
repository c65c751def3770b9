import type * as k8s from '@kubernetes/client-node';

import { isNotFound, kubeRequest } from './request.js';
import { objectPath, refOf, type KubernetesObject, type ObjectRef, type OwnerReference } from './resources.js';

const APPLY_PATCH = 'application/apply-patch+yaml'; // JSON is YAML
const MERGE_PATCH = 'application/merge-patch+json';

export interface ApplyOptions {
  /** Who owns the fields written: each program names itself (the kit has no name of its own). */
  fieldManager: string;
}

/**
 * Metadata the server sets: sent back in an apply, resourceVersion would turn it into a
 * compare-and-swap and managedFields would be refused; the rest would be claimed as ours.
 */
const SERVER_SET_METADATA = [
  'resourceVersion',
  'managedFields',
  'uid',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'selfLink',
] as const;

/**
 * Server-side apply, forced: makes the fields `obj` names what it says, taking them over from any
 * other manager, and drops fields this manager set before but `obj` no longer names. Send the whole
 * desired state every time, built from scratch, not an object read back from the server.
 */
export async function apply<T extends KubernetesObject>(
  kc: k8s.KubeConfig,
  obj: T,
  options: ApplyOptions,
): Promise<T> {
  const metadata: Record<string, unknown> = { ...obj.metadata };
  for (const field of SERVER_SET_METADATA) delete metadata[field];
  return kubeRequest<T>(kc, {
    method: 'PATCH',
    path: await objectPath(kc, refOf(obj)),
    query: { fieldManager: options.fieldManager, force: true },
    body: { ...obj, metadata },
    contentType: APPLY_PATCH,
  });
}

/**
 * Server-side apply of `obj.status` through the status subresource (a custom resource's status is
 * written nowhere else). Only apiVersion, kind, name, namespace and status are sent.
 */
export async function applyStatus<T extends KubernetesObject & { status?: unknown }>(
  kc: k8s.KubeConfig,
  obj: T,
  options: ApplyOptions,
): Promise<T> {
  const ref = refOf(obj);
  return kubeRequest<T>(kc, {
    method: 'PATCH',
    path: `${await objectPath(kc, ref)}/status`,
    query: { fieldManager: options.fieldManager, force: true },
    body: {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
      status: obj.status ?? {},
    },
    contentType: APPLY_PATCH,
  });
}

export interface DeleteOptions {
  /** Default Background: the object goes now, the garbage collector removes what it owns. */
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Delete only this incarnation of the object (not a newer one of the same name). */
  uid?: string;
}

/** Deletes the object; resolves false when it did not exist. */
export async function deleteIfExists(
  kc: k8s.KubeConfig,
  ref: ObjectRef | KubernetesObject,
  options: DeleteOptions = {},
): Promise<boolean> {
  const target = 'name' in ref ? ref : refOf(ref);
  try {
    await kubeRequest(kc, {
      method: 'DELETE',
      path: await objectPath(kc, target),
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: options.propagationPolicy ?? 'Background',
        ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
      },
    });
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** The owner reference that makes `owner` the controller of an object (deleted with it by the GC). */
export function ownerReference(owner: KubernetesObject): OwnerReference {
  const { apiVersion, kind, name } = refOf(owner);
  const uid = owner.metadata?.uid;
  if (!uid) throw new Error(`${kind} ${name} has no uid: read it from the API server first`);
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

export function hasFinalizer(obj: KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/**
 * Adds the finalizer unless present. The patch carries the resourceVersion `obj` was read at, so it
 * fails with 409 Conflict (isConflict) if anyone changed the object since: the finalizer list is
 * replaced whole, and without that check a concurrent writer's finalizer could be lost. Resolves to
 * the object as written (or `obj` when there was nothing to do).
 */
export async function addFinalizer<T extends KubernetesObject>(
  kc: k8s.KubeConfig,
  obj: T,
  finalizer: string,
  options: ApplyOptions,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return patchFinalizers(kc, obj, [...(obj.metadata?.finalizers ?? []), finalizer], options);
}

/** Removes the finalizer if present, under the same resourceVersion check as addFinalizer. */
export async function removeFinalizer<T extends KubernetesObject>(
  kc: k8s.KubeConfig,
  obj: T,
  finalizer: string,
  options: ApplyOptions,
): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  return patchFinalizers(
    kc,
    obj,
    obj.metadata!.finalizers!.filter((f) => f !== finalizer),
    options,
  );
}

async function patchFinalizers<T extends KubernetesObject>(
  kc: k8s.KubeConfig,
  obj: T,
  finalizers: string[],
  options: ApplyOptions,
): Promise<T> {
  const resourceVersion = obj.metadata?.resourceVersion;
  if (!resourceVersion) throw new Error('a finalizer change needs the resourceVersion the object was read at');
  return kubeRequest<T>(kc, {
    method: 'PATCH',
    path: await objectPath(kc, refOf(obj)),
    query: { fieldManager: options.fieldManager },
    body: { metadata: { resourceVersion, finalizers } },
    contentType: MERGE_PATCH,
  });
}
