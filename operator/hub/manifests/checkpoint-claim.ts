import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { jobObjectNames, ownedMetadata, type Manifest } from './names.js';

/**
 * The aggregator's checkpoints and, at the end, result.json and the final model. It outlives the
 * aggregator (cleanupPolicy Delete removes the Deployment, not this) and goes with the job.
 */
export function checkpointClaim(job: FederatedJob): Manifest<V1PersistentVolumeClaim> {
  const { storageSize, storageClassName } = job.spec.checkpoint;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: ownedMetadata(job, jobObjectNames(job.metadata.name).checkpoints, 'checkpoints'),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: storageSize } },
      ...(storageClassName !== undefined ? { storageClassName } : {}),
    },
  };
}
