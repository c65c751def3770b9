import { X509Certificate } from 'node:crypto';
import type { Site } from './contracts.js';
import type { Secret } from './controllers/hub-caches.js';
import { JOB_LABEL } from '../api/vocabulary.js';
import { COMPONENT_LABEL } from './manifests/names.js';
import { JOB_CA_COMPONENT, JOB_ROOT_SECRET, SITE_CA_SECRET } from './pki.js';

/** A certificate the hub issued, named by the labels of flotilla_certificate_expiry_timestamp_seconds. */
export interface CertificateExpiry {
  labels: { certificate: 'site-ca' | 'job-root-ca' | 'job-ca' | 'site-agent'; namespace?: string; federatedjob?: string; site?: string };
  /** notAfter, ms since the epoch. */
  notAfter: number;
}

/**
 * The expiry of the certificates the hub holds or issued, from what the operator caches: the two
 * roots and the jobs' CAs in the Secrets of its namespace, the site agents' as each Site's status
 * records it. (An aggregator reports its own: the operator may not read a job's namespace's
 * Secrets.) A Secret's certificate is parsed once per resourceVersion.
 */
export class CertificateExpiries {
  private readonly parsed = new Map<string, { version: string; expiry: CertificateExpiry | undefined }>();

  /** @param namespace the operator's namespace, where the root CA Secret is */
  constructor(private readonly namespace: string) {}

  list(secrets: readonly Secret[], sites: readonly Site[]): CertificateExpiry[] {
    const found: CertificateExpiry[] = [];
    const keys = new Set<string>();
    for (const secret of secrets) {
      const key = `${secret.metadata?.namespace}/${secret.metadata?.name}`;
      keys.add(key);
      const expiry = this.expiryOf(key, secret);
      if (expiry) found.push(expiry);
    }
    for (const key of this.parsed.keys()) if (!keys.has(key)) this.parsed.delete(key);
    for (const site of sites) {
      const notAfter = Date.parse(site.status?.certificateExpiry ?? '');
      if (Number.isFinite(notAfter)) found.push({ labels: { certificate: 'site-agent', site: site.metadata.name }, notAfter });
    }
    return found;
  }

  private expiryOf(key: string, secret: Secret): CertificateExpiry | undefined {
    const version = secret.metadata?.resourceVersion ?? '';
    const known = this.parsed.get(key);
    if (known && known.version === version) return known.expiry;
    const labels = this.classify(secret);
    const pem = secret.data?.['tls.crt'];
    let expiry: CertificateExpiry | undefined;
    if (labels && pem) {
      try {
        expiry = { labels, notAfter: Date.parse(new X509Certificate(Buffer.from(pem, 'base64')).validTo) };
      } catch {
        // Not a certificate after all: nothing to report.
      }
    }
    this.parsed.set(key, { version, expiry });
    return expiry;
  }

  /** Which of the hub's certificates a Secret of the operator's holds, if any. */
  private classify(secret: Secret): CertificateExpiry['labels'] | undefined {
    const { name, namespace, labels = {} } = secret.metadata ?? {};
    if (!name || namespace !== this.namespace) return undefined;
    if (name === SITE_CA_SECRET) return { certificate: 'site-ca' };
    if (name === JOB_ROOT_SECRET) return { certificate: 'job-root-ca' };
    const [job, jobNamespace] = [labels[JOB_LABEL], labels['flotilla.dev/job-namespace']];
    if (labels[COMPONENT_LABEL] === JOB_CA_COMPONENT && job && jobNamespace) return { certificate: 'job-ca', namespace: jobNamespace, federatedjob: job };
    return undefined;
  }
}
