import type { V1Secret } from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { TLS_FILE_NAMES } from '../../pki/files.js';
import { jobObjectNames, ownedMetadata, type Manifest } from './names.js';

/** The aggregator's serving credentials: the layout `flotilla aggregator --tls-dir` reads (operator/pki/files.ts). */
export interface AggregatorCredentials {
  /** The job's issuing CA: the aggregator trusts client certificates it signed. */
  caPem: string;
  certificatePem: string;
  privateKeyPem: string;
}

export function aggregatorTlsSecret(job: FederatedJob, credentials: AggregatorCredentials): Manifest<V1Secret> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(job, jobObjectNames(job.metadata.name).tls, 'aggregator'),
    type: 'kubernetes.io/tls',
    // data, not stringData: stringData is write-only, so server-side apply would never see it settle.
    data: {
      [TLS_FILE_NAMES.ca]: base64(credentials.caPem),
      [TLS_FILE_NAMES.cert]: base64(credentials.certificatePem),
      [TLS_FILE_NAMES.key]: base64(credentials.privateKeyPem),
    },
  };
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** The credentials a Secret made by aggregatorTlsSecret holds, or undefined when it is incomplete. */
export function credentialsOf(secret: Pick<V1Secret, 'data'> | undefined): AggregatorCredentials | undefined {
  const data = secret?.data;
  const text = (key: string) => (data?.[key] ? Buffer.from(data[key], 'base64').toString('utf8') : undefined);
  const [caPem, certificatePem, privateKeyPem] = [text(TLS_FILE_NAMES.ca), text(TLS_FILE_NAMES.cert), text(TLS_FILE_NAMES.key)];
  return caPem && certificatePem && privateKeyPem ? { caPem, certificatePem, privateKeyPem } : undefined;
}
