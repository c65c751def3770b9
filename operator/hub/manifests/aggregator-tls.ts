import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { TLS_FILE_NAMES } from '../../pki/files.js';
import { jobObjectNames, ownedMetadata, type Manifest } from './names.js';

/** The aggregator's serving credentials: the layout `flotilla aggregator --tls-dir` reads (operator/pki/files.ts). */
export interface AggregatorCredentials {
  /** The job's anchor: the aggregator trusts client certificates its job's CA signed, and no others. */
  caPem: string;
  certificatePem: string;
  privateKeyPem: string;
}

/**
 * One Secret per certificate, named after it and immutable: the operator only ever creates it (it
 * holds no right to read, change or delete Secrets in a job's namespace, see hub/rbac.ts), the
 * Deployment names the current one, and the job's deletion takes them all (owner reference).
 */
export function aggregatorTlsSecretName(job: string, certificatePem: string): string {
  return `${jobObjectNames(job).tls}-${createHash('sha256').update(certificatePem).digest('hex').slice(0, 10)}`;
}

export function aggregatorTlsSecret(job: FederatedJob, credentials: AggregatorCredentials): Manifest<V1Secret> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(job, aggregatorTlsSecretName(job.metadata.name, credentials.certificatePem), 'aggregator'),
    type: 'kubernetes.io/tls',
    immutable: true,
    data: {
      [TLS_FILE_NAMES.ca]: base64(credentials.caPem),
      [TLS_FILE_NAMES.cert]: base64(credentials.certificatePem),
      [TLS_FILE_NAMES.key]: base64(credentials.privateKeyPem),
    },
  };
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
