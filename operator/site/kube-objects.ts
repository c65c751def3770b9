/**
 * The few object operations the site agent needs, on the controller kit: apply (server-side, field
 * manager flotilla-site-agent), get, list by label, delete. A missing object is not an error to get
 * or delete.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { apply, deleteIfExists } from '../kube/apply.js';
import { refusedAs } from '../kube/refusal.js';
import { isConflict, isNotFound, kubeRequest } from '../kube/request.js';
import { collectionPath, objectPath, refOf, type KubernetesObject, type ObjectRef, type ResourceType } from '../kube/resources.js';
import { FIELD_MANAGER, MANAGED_SELECTOR } from './client-objects.js';

/**
 * Server-side apply. A refusal (a quota, Pod Security, a policy of the hospital's cluster) fails
 * with a message naming the object and quoting the server, which the agent reports to the hub.
 */
export function applyObject<T extends KubernetesObject>(kc: KubeConfig, obj: T): Promise<T> {
  return refusedAs(refOf(obj), () => apply(kc, obj, { fieldManager: FIELD_MANAGER }), "the site's API server");
}

export async function getObject<T extends KubernetesObject>(kc: KubeConfig, ref: ObjectRef): Promise<T | undefined> {
  try {
    return await kubeRequest<T>(kc, { method: 'GET', path: await objectPath(kc, ref) });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function listObjects<T extends KubernetesObject>(
  kc: KubeConfig,
  type: ResourceType & { namespace: string },
  labelSelector: string,
): Promise<T[]> {
  const list = await kubeRequest<{ items: T[] }>(kc, { method: 'GET', path: collectionPath(type), query: { labelSelector } });
  return list.items;
}

/** Deletes the object; with `uid`, only that incarnation of it (another one is left alone). */
export async function deleteObject(kc: KubeConfig, ref: ObjectRef, uid?: string): Promise<void> {
  try {
    await deleteIfExists(kc, ref, uid ? { uid } : {});
  } catch (err) {
    if (!(uid && isConflict(err))) throw err;
  }
}

/** Deletes everything the agent made in its namespace: pods first, then what they mount. */
export async function deleteAllManaged(kc: KubeConfig, namespace: string): Promise<void> {
  for (const [plural, kind] of [['pods', 'Pod'], ['secrets', 'Secret'], ['configmaps', 'ConfigMap']] as const) {
    for (const obj of await listObjects(kc, { group: '', version: 'v1', plural, namespace }, MANAGED_SELECTOR)) {
      await deleteObject(kc, { apiVersion: 'v1', kind, namespace, name: obj.metadata!.name! });
    }
  }
}
