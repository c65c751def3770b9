/**
 * The operator's informer caches. They run on every replica, leader or not, so a standby that
 * takes over starts with warm caches. Objects the operator makes are watched by its managed-by
 * label only: the operator never caches the cluster's other Pods or Deployments; Secrets it caches
 * in its own namespace only (it may not read them anywhere else, see hub/rbac.ts).
 */
import type * as k8s from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { JOB_LABEL } from '../../api/vocabulary.js';
import { Informer } from '../../kube/informer.js';
import type { ObjectMeta } from '../../kube/resources.js';
import type { Logger } from '../../log.js';
import type { Site } from '../contracts.js';
import { aggregatorSelector, MANAGED_BY } from '../manifests/names.js';
import { jobKey } from './assignments.js';

/** Core objects as the API server sends them: metadata timestamps are strings. */
export type Raw<T> = Omit<T, 'metadata'> & { metadata?: ObjectMeta };
export type Deployment = Raw<k8s.V1Deployment>;
export type Service = Raw<k8s.V1Service>;
export type Pod = Raw<k8s.V1Pod>;
export type Secret = Raw<k8s.V1Secret>;

export interface HubCaches {
  jobs: Informer<FederatedJob>;
  sites: Informer<Site>;
  deployments: Informer<Deployment>;
  services: Informer<Service>;
  pods: Informer<Pod>;
  /** The Secrets of the operator's namespace: CAs, join tokens and bundles. */
  secrets: Informer<Secret>;
}

const MANAGED = `app.kubernetes.io/managed-by=${MANAGED_BY}`;

export function hubCaches(kc: k8s.KubeConfig, logger: Logger, namespace: string): HubCaches {
  const options = { logger };
  return {
    jobs: new Informer<FederatedJob>(kc, { group: 'flotilla.dev', version: 'v1alpha1', plural: 'federatedjobs' }, options),
    sites: new Informer<Site>(kc, { group: 'flotilla.dev', version: 'v1alpha1', plural: 'sites' }, options),
    deployments: new Informer<Deployment>(kc, { group: 'apps', version: 'v1', plural: 'deployments', labelSelector: MANAGED }, options),
    services: new Informer<Service>(kc, { group: '', version: 'v1', plural: 'services', labelSelector: MANAGED }, options),
    // Indexed by job: each job's status pass looks for its aggregator pod.
    pods: new Informer<Pod>(kc, { group: '', version: 'v1', plural: 'pods', labelSelector: MANAGED }, { ...options, indexBy: owningJobKey }),
    secrets: new Informer<Secret>(kc, { group: '', version: 'v1', plural: 'secrets', namespace, labelSelector: MANAGED }, options),
  };
}

export function allInformers(caches: HubCaches): Informer<never>[] {
  return Object.values(caches) as Informer<never>[];
}

/**
 * The job's aggregator pods (those its Deployment selects) not being deleted, newest first (a
 * replaced one may still linger).
 */
export function aggregatorPods(pods: Informer<Pod>, job: FederatedJob): Pod[] {
  const selector = Object.entries(aggregatorSelector(job));
  return pods
    .indexed(jobKey(job))
    .filter((p) => selector.every(([label, value]) => p.metadata?.labels?.[label] === value) && !p.metadata?.deletionTimestamp)
    .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')));
}

/** "namespace/job" of the FederatedJob that owns an object, from its job label. */
export function owningJobKey(obj: { metadata?: ObjectMeta }): string | undefined {
  const job = obj.metadata?.labels?.[JOB_LABEL];
  return job && obj.metadata?.namespace ? `${obj.metadata.namespace}/${job}` : undefined;
}
