import type * as k8s from '@kubernetes/client-node';

import { isNotFound, kubeRequest } from './request.js';

/**
 * An object as the API server sends it. The kit hands out parsed JSON, so timestamps are RFC 3339
 * strings; they are typed `string | Date` only so that client-node's model types (V1Pod...), which
 * declare Date, fit too.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  managedFields?: ManagedFieldsEntry[];
}

export interface KubernetesObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager?: string;
  /** Apply or Update */
  operation?: string;
  apiVersion?: string;
  subresource?: string;
  fieldsV1?: object;
}

/** Names one object of any kind. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** A resource collection: `group` is '' for the core API. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
}

/** The cache key of an object: "namespace/name", or "name" when cluster-scoped. */
export function objectKey(obj: KubernetesObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error('object has no metadata.name');
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

export function refOf(obj: KubernetesObject): ObjectRef {
  const { apiVersion, kind } = obj;
  const name = obj.metadata?.name;
  if (!apiVersion || !kind || !name) throw new Error('object needs apiVersion, kind and metadata.name');
  return { apiVersion, kind, name, namespace: obj.metadata?.namespace };
}

/** /api/v1[/namespaces/ns]/plural or /apis/group/version[/namespaces/ns]/plural */
export function collectionPath(type: ResourceType & { namespace?: string }): string {
  const root = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  const scope = type.namespace ? `/namespaces/${encodeURIComponent(type.namespace)}` : '';
  return `${root}${scope}/${type.plural}`;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/** Discovery answers per kubeconfig and apiVersion; a kind not found is looked up again (a CRD may be new). */
const discovery = new WeakMap<k8s.KubeConfig, Map<string, Promise<ApiResource[]>>>();

async function findResource(kc: k8s.KubeConfig, apiVersion: string, kind: string): Promise<ApiResource> {
  let byVersion = discovery.get(kc);
  if (!byVersion) discovery.set(kc, (byVersion = new Map()));
  const fetchList = () => {
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = kubeRequest<{ resources: ApiResource[] }>(kc, { method: 'GET', path }).then((l) => l.resources);
    byVersion.set(apiVersion, list);
    list.catch(() => byVersion.delete(apiVersion));
    return list;
  };
  // Subresources ("pods/status") share the kind of their resource; skip them.
  const match = (resources: ApiResource[]) => resources.find((r) => r.kind === kind && !r.name.includes('/'));
  const cached = byVersion.get(apiVersion);
  const found = (cached && match(await cached.catch(() => []))) || match(await fetchList());
  if (!found) throw new Error(`the API server serves no kind ${kind} in ${apiVersion}`);
  return found;
}

/** The API path of one object, its plural and scope found through discovery. */
export async function objectPath(kc: k8s.KubeConfig, ref: ObjectRef): Promise<string> {
  const resource = await findResource(kc, ref.apiVersion, ref.kind);
  if (resource.namespaced && !ref.namespace) {
    throw new Error(`${ref.kind} ${ref.name} is namespaced but has no namespace`);
  }
  const [group, version] = ref.apiVersion.includes('/') ? ref.apiVersion.split('/') : ['', ref.apiVersion];
  const collection = collectionPath({
    group: group ?? '',
    version: version ?? '',
    plural: resource.name,
    namespace: resource.namespaced ? ref.namespace : undefined,
  });
  return `${collection}/${encodeURIComponent(ref.name)}`;
}

/** Reads one object straight from the API server; undefined if it does not exist. */
export async function readObject<T extends KubernetesObject>(
  kc: k8s.KubeConfig,
  ref: ObjectRef,
): Promise<T | undefined> {
  try {
    return await kubeRequest<T>(kc, { method: 'GET', path: await objectPath(kc, ref) });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
