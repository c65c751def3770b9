import { createHash } from 'node:crypto';
import type { V1Deployment, V1ResourceRequirements } from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { aggregatorTlsSecretName } from './aggregator-tls.js';
import { JOB_MANIFEST_KEY, jobManifest, REVOCATIONS_KEY } from './job-manifest.js';
import { aggregatorSelector, GRPC_PORT, jobLabels, jobObjectNames, METRICS_PORT, ownedMetadata, type Manifest } from './names.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../../kube/pod-security.js';

/** Where the aggregator's volumes are mounted in its container. */
export const AGGREGATOR_PATHS = {
  job: '/etc/flotilla/job',
  tls: '/etc/flotilla/tls',
  state: '/var/lib/flotilla',
  tmp: '/tmp',
} as const;

/** The uid/gid of the image's unprivileged user (distroless "nonroot"). */

export interface AggregatorDeploymentOptions {
  /** The operator's own image, used unless the job names one in spec.aggregator.image. */
  defaultImage: string;
  /**
   * The aggregator's certificate chain (public): a new one rolls the pod, which reads its TLS files
   * only at start. The Deployment keeps it, so the operator knows when to renew without reading the
   * Secret.
   */
  certificatePem: string;
}

/** The pod template's annotation holding the aggregator's certificate chain. */
export const CERTIFICATE_ANNOTATION = 'flotilla.dev/certificate';

/**
 * One aggregator per job, running the job as given (its sites resolved: job-sites.ts). Recreate, never two at once: two aggregators of one job would split its
 * sites and both write its checkpoints. The pod meets the Pod Security "restricted" profile.
 */
export function aggregatorDeployment(job: FederatedJob, options: AggregatorDeploymentOptions): Manifest<V1Deployment> {
  const names = jobObjectNames(job.metadata.name);
  const selector = aggregatorSelector(job);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMetadata(job, names.aggregator, 'aggregator'),
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels: { ...jobLabels(job, 'aggregator'), ...selector },
          annotations: {
            // The aggregator reads its job and certificate once, at start: a change restarts it,
            // and it resumes from its last checkpoint.
            'flotilla.dev/job-sha256': sha256(jobManifest(job)),
            [CERTIFICATE_ANNOTATION]: options.certificatePem,
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: restrictedPodSecurityContext(),
          containers: [
            {
              name: 'aggregator',
              image: job.spec.aggregator.image ?? options.defaultImage,
              imagePullPolicy: 'IfNotPresent',
              command: ['flotilla', 'aggregator'],
              args: [
                `--job=${AGGREGATOR_PATHS.job}/${JOB_MANIFEST_KEY}`,
                `--namespace=${job.metadata.namespace}`,
                `--listen=0.0.0.0:${GRPC_PORT}`,
                `--metrics-listen=0.0.0.0:${METRICS_PORT}`,
                `--tls-dir=${AGGREGATOR_PATHS.tls}`,
                `--state-dir=${AGGREGATOR_PATHS.state}`,
                // The sites revoked when the pod starts; the operator sends later ones to the metrics port.
                `--revocations=${AGGREGATOR_PATHS.job}/${REVOCATIONS_KEY}`,
                // A Deployment's pod must not exit at the end: it keeps /status readable until the
                // operator has recorded the outcome and removes it (cleanupPolicy Delete).
                '--linger',
              ],
              ports: [
                { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
                { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 2, failureThreshold: 3 },
              resources: resourcesOf(job),
              securityContext: restrictedContainerSecurityContext(),
              volumeMounts: [
                { name: 'job', mountPath: AGGREGATOR_PATHS.job, readOnly: true },
                { name: 'tls', mountPath: AGGREGATOR_PATHS.tls, readOnly: true },
                { name: 'state', mountPath: AGGREGATOR_PATHS.state },
                { name: 'tmp', mountPath: AGGREGATOR_PATHS.tmp },
              ],
            },
          ],
          volumes: [
            { name: 'job', configMap: { name: names.spec } },
            { name: 'tls', secret: { secretName: aggregatorTlsSecretName(job.metadata.name, options.certificatePem), defaultMode: 0o440 } },
            { name: 'state', persistentVolumeClaim: { claimName: names.checkpoints } },
            { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
          ],
        },
      },
    },
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The job's requests and limits as the API expects them (quantities as strings). */
function resourcesOf(job: FederatedJob): V1ResourceRequirements {
  const { limits, requests } = job.spec.aggregator.resources ?? {};
  const strings = (quantities?: Record<string, number | string>) =>
    quantities && Object.fromEntries(Object.entries(quantities).map(([k, v]) => [k, String(v)]));
  return { ...(limits ? { limits: strings(limits) } : {}), ...(requests ? { requests: strings(requests) } : {}) };
}
