/**
 * What a FederatedJob may touch at the hub: objects it owns (an owner reference to this job, by
 * uid) and names no one has taken. An object of a derived name that the job does not own is
 * someone else's, a Service or a claim of another team, say: it is a conflict, reported in the
 * job's status with the object named, and it is never applied over (a forced apply would take it
 * over) nor deleted. So FederatedJob rights give no power over other objects of the namespace.
 *
 * Whose an object is, is asked of the API server with a JSON patch of nothing but "test"
 * operations on its owner reference: it changes nothing, fails (422) unless the object is the
 * job's, and needs only the patch right the operator has anyway, not the right to read the
 * namespace's ConfigMaps or claims. Deployments and Services, which the operator may list (its
 * caches), are read instead, by a list of the one name: a read, where the patch counts as a write.
 */
import type * as k8s from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { deleteIfExists } from '../../kube/apply.js';
import { isConflict, isNotFound, kubeRequest, statusCodeOf } from '../../kube/request.js';
import { objectPath, type KubernetesObject, type ObjectRef } from '../../kube/resources.js';

/** Whether `obj` is the job's: its controlling owner is this incarnation of the job. */
export function ownedBy(obj: KubernetesObject, job: FederatedJob): boolean {
  return Boolean(obj.metadata?.ownerReferences?.some((r) => r.kind === 'FederatedJob' && r.uid === job.metadata.uid && r.controller));
}

/** An object of a name the job needs that belongs to someone else. */
export class ObjectConflict extends Error {
  override name = 'ObjectConflict';
  constructor(readonly ref: ObjectRef) {
    super(
      `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name} exists and is not this job's: ` +
        'the operator leaves it untouched; remove it, or give the job another name',
    );
  }
}

type Ownership = { whose: 'absent' | 'earlier' | 'foreign' } | { whose: 'job'; obj: KubernetesObject };

/**
 * Whose the object of `ref`'s name is: absent, this job's, an earlier job's of the same name (a
 * left-over the garbage collector has not removed yet: owner references are namespaced), or
 * someone else's.
 */
async function ownership(kc: k8s.KubeConfig, job: FederatedJob, ref: ObjectRef): Promise<Ownership> {
  const path = await objectPath(kc, ref);
  if (LISTABLE.has(ref.kind)) return ownershipOf(job, await listedByName(kc, path, ref.name));
  const owner = (field: string, value: unknown) => ({ op: 'test', path: `/metadata/ownerReferences/0/${field}`, value });
  const test = async (ops: unknown[]) => {
    try {
      return await kubeRequest<KubernetesObject>(kc, { method: 'PATCH', path, body: ops, contentType: 'application/json-patch+json' });
    } catch (err) {
      if (statusCodeOf(err) === 422) return undefined;
      throw err;
    }
  };
  try {
    const obj = await test([owner('uid', job.metadata.uid)]);
    if (obj) return { whose: 'job', obj };
    const earlier = await test([owner('kind', 'FederatedJob'), owner('name', job.metadata.name), owner('controller', true)]);
    return { whose: earlier ? 'earlier' : 'foreign' };
  } catch (err) {
    if (isNotFound(err)) return { whose: 'absent' };
    throw err;
  }
}

/** The kinds the operator may list (hub/rbac.ts). */
const LISTABLE = new Set(['Deployment', 'Service']);

/** The object of the name, read by listing its collection with a field selector on the name. */
async function listedByName(kc: k8s.KubeConfig, path: string, name: string): Promise<KubernetesObject | undefined> {
  const collection = path.slice(0, path.lastIndexOf('/'));
  const list = await kubeRequest<{ items: KubernetesObject[] }>(kc, { method: 'GET', path: collection, query: { fieldSelector: `metadata.name=${name}` } });
  return list.items[0];
}

/** Whose an object is, read as the test patches ask it: by its first owner reference. */
function ownershipOf(job: FederatedJob, obj: KubernetesObject | undefined): Ownership {
  if (!obj) return { whose: 'absent' };
  const first = obj.metadata?.ownerReferences?.[0];
  if (first?.uid === job.metadata.uid) return { whose: 'job', obj };
  return { whose: first?.kind === 'FederatedJob' && first.name === job.metadata.name && first.controller === true ? 'earlier' : 'foreign' };
}

/**
 * Throws ObjectConflict unless the object of `ref`'s name is absent or the job's (or an earlier
 * job's of its name). `cached`: what an informer holds of it, trusted when it shows the job as
 * owner (the caches hold only objects labelled as the operator's).
 */
export async function claimName(kc: k8s.KubeConfig, job: FederatedJob, ref: ObjectRef, cached?: KubernetesObject): Promise<void> {
  if (cached && ownedBy(cached, job)) return;
  if ((await ownership(kc, job, ref)).whose === 'foreign') throw new ObjectConflict(ref);
}

/** Deletes the object if it is the job's (that incarnation of it only); leaves anyone else's be. */
export async function deleteIfOwned(kc: k8s.KubeConfig, job: FederatedJob, ref: ObjectRef): Promise<void> {
  const found = await ownership(kc, job, ref);
  if (found.whose !== 'job') return;
  try {
    await deleteIfExists(kc, ref, { uid: found.obj.metadata!.uid! });
  } catch (err) {
    // Replaced since it was asked about: the new one is not ours to delete.
    if (!isConflict(err)) throw err;
  }
}
