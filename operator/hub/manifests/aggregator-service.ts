import type { V1Service } from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { aggregatorSelector, GRPC_PORT, jobObjectNames, ownedMetadata, type Manifest } from './names.js';

/**
 * The aggregator's stable address for the sites' clients: the federation port alone.
 * LoadBalancer exposes it to hospitals outside the hub's network (see aggregator-endpoint.ts). The
 * metrics and status port (plain HTTP) is only the pod's: the operator and Prometheus reach it at
 * the pod's address, and no Service, public or not, carries it.
 */
export function aggregatorService(job: FederatedJob, type: 'ClusterIP' | 'LoadBalancer' = 'ClusterIP'): Manifest<V1Service> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(job, jobObjectNames(job.metadata.name).aggregator, 'aggregator'),
    spec: {
      type,
      selector: aggregatorSelector(job),
      ports: [{ name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' }],
    },
  };
}

/** The Service's names inside the cluster, for the aggregator's certificate. */
export function aggregatorServiceDnsNames(job: FederatedJob): string[] {
  const service = jobObjectNames(job.metadata.name).aggregator;
  const ns = job.metadata.namespace;
  return [service, `${service}.${ns}`, `${service}.${ns}.svc`, `${service}.${ns}.svc.cluster.local`];
}
