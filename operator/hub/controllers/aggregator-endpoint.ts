/**
 * Where the sites' clients dial a job's aggregator, and the names its certificate must carry.
 *
 * - With --aggregator-address-template (for example `{job}-{namespace}.fl.example.org:443`, an
 *   ingress or gateway that passes TLS through): that address.
 * - Else a LoadBalancer Service's address, once its load balancer has one (ingress IP or hostname,
 *   grpc port): the usual way for hospitals outside the hub's network.
 * - Else the ClusterIP Service's cluster DNS name, for sites that share the hub's network.
 */
import { isIP } from 'node:net';
import type { V1Service } from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { aggregatorServiceDnsNames } from '../manifests/aggregator-service.js';
import { GRPC_PORT, jobObjectNames } from '../manifests/names.js';
import { hostOf, joinAddress } from '../../process/address.js';

export function aggregatorEndpoint(job: FederatedJob, service: Pick<V1Service, 'spec' | 'status'> | undefined, template?: string): string | undefined {
  if (template) return template.replaceAll('{job}', job.metadata.name).replaceAll('{namespace}', job.metadata.namespace ?? '');
  if (!service) return undefined;
  if (service.spec?.type === 'LoadBalancer') {
    const ingress = service.status?.loadBalancer?.ingress?.[0];
    const host = ingress?.hostname ?? ingress?.ip;
    return host ? joinAddress(host, GRPC_PORT) : undefined;
  }
  return `${jobObjectNames(job.metadata.name).aggregator}.${job.metadata.namespace}.svc:${GRPC_PORT}`;
}

/** The certificate's names: the Service's DNS names and the endpoint's host. */
export function certificateNames(job: FederatedJob, endpoint: string): { dnsNames: string[]; ipAddresses: string[] } {
  const host = hostOf(endpoint);
  const dnsNames = aggregatorServiceDnsNames(job);
  if (isIP(host)) return { dnsNames, ipAddresses: [host] };
  return { dnsNames: dnsNames.includes(host) ? dnsNames : [...dnsNames, host], ipAddresses: [] };
}
