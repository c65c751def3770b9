/**
 * The agent's objects of one hub job, made and removed so that nothing else in the namespace is
 * touched: an object of a derived name that the agent did not make for this job (client-objects.ts
 * madeFor: its managed-by and job labels) is a conflict, reported and left alone; removal takes only
 * what the job's labels select, each object by its uid. Pods are made by create, not apply: a pod
 * is never updated (a changed one is replaced), and a create cannot take over a pod of the name.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { isAlreadyExists } from '../kube/request.js';
import { refOf, type KubernetesObject } from '../kube/resources.js';
import { jobSelector, madeFor, type JobKey } from './client-objects.js';
import { applyObject, createObject, deleteObject, getObject, listObjects } from './kube-objects.js';

/** An object of a name the agent needs, which is not the agent's. */
export class ForeignObject extends Error {
  override name = 'ForeignObject';
  constructor(obj: KubernetesObject) {
    const { kind, namespace, name } = refOf(obj);
    super(`${kind} ${namespace}/${name} exists and was not made by the site agent for this job: the agent leaves it untouched (remove or rename it for the job to run here)`);
  }
}

/** Applies `obj` unless an object of its name is not the agent's for `key`. `existing`: already read. */
export async function applyOwned<T extends KubernetesObject>(kc: KubeConfig, key: JobKey, obj: T, existing?: T | null): Promise<T> {
  const current = existing === undefined ? await getObject<T>(kc, refOf(obj)) : (existing ?? undefined);
  if (current && !madeFor(current, key)) throw new ForeignObject(current);
  return applyObject(kc, obj);
}

/**
 * Creates the pod; one of its name that is there already must be the agent's for `key`. Resolves
 * to the pod as the API server holds it, and whether this call created it.
 */
export async function createOwnedPod<T extends KubernetesObject>(kc: KubeConfig, key: JobKey, pod: T): Promise<{ pod: T | undefined; created: boolean }> {
  try {
    return { pod: await createObject(kc, pod), created: true };
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const current = await getObject<T>(kc, refOf(pod));
    if (current && !madeFor(current, key)) throw new ForeignObject(current);
    return { pod: current, created: false };
  }
}

const KINDS = {
  pods: { group: '', version: 'v1', plural: 'pods', apiVersion: 'v1', kind: 'Pod' },
  secrets: { group: '', version: 'v1', plural: 'secrets', apiVersion: 'v1', kind: 'Secret' },
  configMaps: { group: '', version: 'v1', plural: 'configmaps', apiVersion: 'v1', kind: 'ConfigMap' },
  networkPolicies: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
} as const;

type Kind = keyof typeof KINDS;

/** The agent's objects of the job (by its labels), of each kind. */
export async function jobObjects(kc: KubeConfig, namespace: string, key: JobKey): Promise<Record<Kind, KubernetesObject[]>> {
  const selector = jobSelector(key);
  const entries = await Promise.all(
    (Object.keys(KINDS) as Kind[]).map(async (kind) => {
      const { group, version, plural } = KINDS[kind];
      return [kind, await listObjects<KubernetesObject>(kc, { group, version, plural, namespace }, selector)] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<Kind, KubernetesObject[]>;
}

/**
 * Removes the job's objects, `keep` excepted (names of the current ones): pods first, then what they
 * mount, and the NetworkPolicy last, once no pod of the job is left, so that no pod of it ever runs
 * without one. Resolves true when nothing but `keep` is left.
 */
export async function removeJobObjects(kc: KubeConfig, namespace: string, key: JobKey, keep: ReadonlySet<string> = new Set()): Promise<boolean> {
  const found = await jobObjects(kc, namespace, key);
  const remove = async (kind: Kind, objects: KubernetesObject[]) => {
    for (const obj of objects) {
      if (keep.has(obj.metadata!.name!) || obj.metadata?.deletionTimestamp) continue;
      await deleteObject(kc, { apiVersion: KINDS[kind].apiVersion, kind: KINDS[kind].kind, namespace, name: obj.metadata!.name! }, obj.metadata!.uid);
    }
  };
  await remove('pods', found.pods);
  await remove('secrets', found.secrets);
  await remove('configMaps', found.configMaps);
  const podsLeft = found.pods.some((p) => !keep.has(p.metadata!.name!));
  // A NetworkPolicy that is kept covers the job's pods by their labels: the old ones may go.
  const policyKept = found.networkPolicies.some((p) => keep.has(p.metadata!.name!));
  if (!podsLeft || policyKept) await remove('networkPolicies', found.networkPolicies);
  return !podsLeft;
}
