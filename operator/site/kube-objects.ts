/**
 * The few object operations the site agent needs, on the controller kit: apply (server-side, field
 * manager flotilla-site-agent), create, get, list by label, delete. A missing object is not an error
 * to get or delete.
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

/** Creates the object (it must not exist yet: AlreadyExists otherwise). Refusals as applyObject's. */
export function createObject<T extends KubernetesObject>(kc: KubeConfig, obj: T): Promise<T> {
  const ref = refOf(obj);
  const create = async () => {
    // The collection: the object's path without its name.
    const path = (await objectPath(kc, ref)).replace(/\/[^/]+$/, '');
    return kubeRequest<T>(kc, { method: 'POST', path, query: { fieldManager: FIELD_MANAGER }, body: obj });
  };
  return refusedAs(ref, create, "the site's API server");
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

/**
 * Deletes everything the agent made in its namespace: pods first, then what they mount, and the
 * clients' NetworkPolicies last, once the pods are gone (waiting at most podsGoneWithinMs), so that
 * no client runs without its own.
 */
export async function deleteAllManaged(kc: KubeConfig, namespace: string, podsGoneWithinMs = 30_000): Promise<void> {
  const kinds = [
    ['', 'pods', 'Pod'],
    ['', 'secrets', 'Secret'],
    ['', 'configmaps', 'ConfigMap'],
    ['networking.k8s.io', 'networkpolicies', 'NetworkPolicy'],
  ] as const;
  const deadline = Date.now() + podsGoneWithinMs;
  for (const [group, plural, kind] of kinds) {
    if (kind === 'NetworkPolicy') {
      const pods = () => listObjects(kc, { group: '', version: 'v1', plural: 'pods', namespace }, MANAGED_SELECTOR);
      while ((await pods()).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    for (const obj of await listObjects(kc, { group, version: 'v1', plural, namespace }, MANAGED_SELECTOR)) {
      await deleteObject(kc, { apiVersion: group ? `${group}/v1` : 'v1', kind, namespace, name: obj.metadata!.name! }, obj.metadata!.uid);
    }
  }
}
