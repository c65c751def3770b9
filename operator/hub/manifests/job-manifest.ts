import type { V1ConfigMap } from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { jobObjectNames, ownedMetadata, type Manifest } from './names.js';

/** Where the aggregator pod finds the job it runs. */
export const JOB_MANIFEST_KEY = 'job.json';
/** Beside it, the sites revoked as the pod starts, signed by the job's CA (pki/revocation-list.ts). */
export const REVOCATIONS_KEY = 'revocations.json';

/**
 * The job as the aggregator and the sites' clients run it: its identity and spec as the API server
 * stored them (defaults applied), without status or server-side bookkeeping, so that the text
 * changes only when the spec does.
 */
export function jobManifest(job: FederatedJob): string {
  const { name, namespace, uid, generation } = job.metadata;
  return JSON.stringify({ apiVersion: job.apiVersion, kind: job.kind, metadata: { name, namespace, uid, generation }, spec: job.spec });
}

export function specConfigMap(job: FederatedJob, signedRevocations: string): Manifest<V1ConfigMap> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMetadata(job, jobObjectNames(job.metadata.name).spec, 'aggregator'),
    data: { [JOB_MANIFEST_KEY]: jobManifest(job), [REVOCATIONS_KEY]: signedRevocations },
  };
}
