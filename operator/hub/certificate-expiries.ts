import { X509Certificate } from 'node:crypto';
import { JOB_LABEL } from '../api/vocabulary.js';
import type { Site } from './contracts.js';
import type { Secret } from './controllers/hub-caches.js';
import { COMPONENT_LABEL } from './manifests/names.js';
import { ROOT_SECRET } from './pki.js';

/** A certificate the hub issued, named by the labels of flotilla_certificate_expiry_timestamp_seconds. */
export interface CertificateExpiry {
  labels: { certificate: 'hub-ca' | 'job-ca' | 'aggregator' | 'site-agent'; namespace?: string; federatedjob?: string; site?: string };
  /** notAfter, ms since the epoch. */
  notAfter: number;
}

/**
 * The expiry of every certificate the hub issued, from what the operator caches: the root CA and
 * the jobs' CAs and aggregator certificates in its Secrets, the site agents' as each Site's status
 * records it. A Secret's certificate is parsed once per resourceVersion.
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
    const { name, namespace, labels = {}, ownerReferences = [] } = secret.metadata ?? {};
    if (!name || !namespace) return undefined;
    if (name === ROOT_SECRET && namespace === this.namespace) return { certificate: 'hub-ca' };
    const job = labels[JOB_LABEL] ?? ownerReferences.find((o) => o.kind === 'FederatedJob')?.name;
    if (!job) return undefined;
    if (labels[COMPONENT_LABEL] === 'pki') return { certificate: 'job-ca', namespace, federatedjob: job };
    if (labels[COMPONENT_LABEL] === 'aggregator') return { certificate: 'aggregator', namespace, federatedjob: job };
    return undefined;
  }
}
