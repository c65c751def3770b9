import type { FederatedJob } from '../../api/federatedjob.js';
import { JOB_LABEL } from '../../api/vocabulary.js';
import { ownerReference } from '../../kube/apply.js';
import type { ObjectMeta } from '../../kube/resources.js';

/**
 * Names and labels of the objects a FederatedJob owns in its namespace at the hub. Every name
 * derives from the job's, so a restarted operator finds what an earlier one made.
 */
export const MANAGED_BY = 'flotilla-operator';
/** The operator's field manager in server-side apply: its name, as in the managed-by label. */
export const FIELD_MANAGER = MANAGED_BY;
export const COMPONENT_LABEL = 'app.kubernetes.io/component';

/** A core object as the operator writes it: client-node's shape, metadata as JSON carries it. */
export type Manifest<T> = Omit<T, 'metadata'> & { metadata: ObjectMeta };

export const GRPC_PORT = 8443;
export const METRICS_PORT = 9090;

export const jobObjectNames = (job: string) => ({
  spec: `${job}-spec`,
  tls: `${job}-aggregator-tls`,
  checkpoints: `${job}-checkpoints`,
  aggregator: `${job}-aggregator`,
});

/** A Service name is a DNS-1035 label: it must start with a letter and fit in 63 characters. */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Why the objects of a job with this name cannot exist, or undefined when they can. */
export function jobNameProblem(job: string): string | undefined {
  const service = jobObjectNames(job).aggregator;
  if (service.length > 63 || !DNS_1035_LABEL.test(service)) {
    return `the aggregator Service name "${service}" must be a DNS-1035 label (start with a letter, at most 63 characters): use a job name of at most 52 characters that starts with a letter`;
  }
  return undefined;
}

/** The labels that select a job's aggregator pod. */
export function aggregatorSelector(job: FederatedJob): Record<string, string> {
  return { [JOB_LABEL]: job.metadata.name, [COMPONENT_LABEL]: 'aggregator' };
}

export function jobLabels(job: FederatedJob, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'flotilla',
    'app.kubernetes.io/managed-by': MANAGED_BY,
    [COMPONENT_LABEL]: component,
    [JOB_LABEL]: job.metadata.name,
  };
}

export function ownedMetadata(job: FederatedJob, name: string, component: string): ObjectMeta {
  return {
    name,
    namespace: job.metadata.namespace,
    labels: jobLabels(job, component),
    // The job as the controlling owner: the garbage collector removes what it owns with it.
    ownerReferences: [ownerReference(job)],
  };
}
