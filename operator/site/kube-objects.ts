/**
 * The few object operations the site agent needs, on the controller kit's request layer: apply
 * (server-side, field manager flotilla-site-agent), get, list by label, delete. A missing object is
 * not an error to get or delete.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { isNotFound, kubeRequest } from '../kube/request.js';
import { collectionPath, objectPath, refOf, type KubernetesObject, type ObjectRef, type ResourceType } from '../kube/resources.js';
import { FIELD_MANAGER } from './client-objects.js';

export async function applyObject<T extends KubernetesObject>(kc: KubeConfig, obj: T): Promise<T> {
  return kubeRequest<T>(kc, {
    method: 'PATCH',
    path: await objectPath(kc, refOf(obj)),
    query: { fieldManager: FIELD_MANAGER, force: true },
    contentType: 'application/apply-patch+yaml',
    body: obj,
  });
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

/** Deletes the object; with `uid`, only that incarnation of it. */
export async function deleteObject(kc: KubeConfig, ref: ObjectRef, uid?: string): Promise<void> {
  try {
    await kubeRequest(kc, {
      method: 'DELETE',
      path: await objectPath(kc, ref),
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', ...(uid ? { preconditions: { uid } } : {}) },
    });
  } catch (err) {
    if (!isNotFound(err) && !(uid && (err as { statusCode?: number }).statusCode === 409)) throw err;
  }
}
