/**
 * The hub's audit trail (`--audit-file`, in the chart a claim of the platform team's): what the
 * operator vouched for. Each site enrolled with a join token, each certificate the hub signed (a site
 * agent's, renewed; a client pod's for a job), each site revoked or deleted, each job taken on and
 * each job's end. Only the leader writes (one writer per file); a new leader opens the file and
 * continues its chain. Every entry is on disk before what it records is announced: a certificate
 * before it is returned, a revocation before the revoked list is written, a job's start and end
 * before its status says so. A trail that cannot be written fails that call or pass, which is
 * retried; it never signs anything unrecorded.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { AuditTrail } from '../audit/trail.js';
import type { EntryFields } from '../audit/entry.js';
import type { FederatedJob, FederatedJobStatus } from '../api/federatedjob.js';
import { isFinal } from '../api/vocabulary.js';
import type { Logger } from '../log.js';
import type { JobRef, SiteRef } from './pki.js';

export interface HubAuditLog {
  siteEnrolled(site: SiteRef, certificatePem: string, agentVersion: string): Promise<void>;
  siteCertificateRenewed(site: SiteRef, certificatePem: string): Promise<void>;
  clientCertificateIssued(job: JobRef, site: SiteRef, certificatePem: string): Promise<void>;
  siteRevoked(site: SiteRef, why: 'revoked' | 'deleted'): Promise<void>;
  /** The job's first status (taken on) and its end, when `next` is either; before that status is written. */
  jobStatus(job: FederatedJob, next: FederatedJobStatus): Promise<void>;
  close(): Promise<void>;
}

/** No trail configured: nothing is recorded (the chart and docs say where to turn it on). */
export const NO_HUB_AUDIT: HubAuditLog = {
  siteEnrolled: () => Promise.resolve(),
  siteCertificateRenewed: () => Promise.resolve(),
  clientCertificateIssued: () => Promise.resolve(),
  siteRevoked: () => Promise.resolve(),
  jobStatus: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

export class HubAudit implements HubAuditLog {
  /** What this term recorded once already (a job's start and end, a revocation), should the write it preceded fail and be retried. */
  private readonly recorded = new Set<string>();

  private constructor(
    private readonly trail: AuditTrail,
    private readonly log: Logger,
  ) {}

  /** Opens the trail for one term of leadership and records that term. */
  static async open(file: string, identity: string, log: Logger): Promise<HubAudit> {
    const audit = new HubAudit(await AuditTrail.open(file, 'operator'), log);
    await audit.write('leader-started', { identity });
    return audit;
  }

  siteEnrolled(site: SiteRef, certificatePem: string, agentVersion: string): Promise<void> {
    return this.write('site-enrolled', { ...siteFields(site), agentVersion, ...certificateFields(certificatePem) });
  }

  siteCertificateRenewed(site: SiteRef, certificatePem: string): Promise<void> {
    return this.write('site-certificate-renewed', { ...siteFields(site), ...certificateFields(certificatePem) });
  }

  clientCertificateIssued(job: JobRef, site: SiteRef, certificatePem: string): Promise<void> {
    return this.write('client-certificate-issued', {
      namespace: job.namespace,
      job: job.name,
      jobUid: job.uid,
      ...siteFields(site),
      ...certificateFields(certificatePem),
    });
  }

  siteRevoked(site: SiteRef, why: 'revoked' | 'deleted'): Promise<void> {
    return this.once(`${site.uid}/revoked`, why === 'revoked' ? 'site-revoked' : 'site-deleted', siteFields(site));
  }

  jobStatus(job: FederatedJob, next: FederatedJobStatus): Promise<void> {
    const fields = { namespace: job.metadata.namespace ?? '', job: job.metadata.name ?? '', jobUid: job.metadata.uid ?? '' };
    const writes: Promise<void>[] = [];
    if (!job.status) {
      writes.push(this.once(`${fields.jobUid}/accepted`, 'job-accepted', { ...fields, generation: job.metadata.generation ?? 0, rounds: job.spec.rounds, specSha256: sha256(JSON.stringify(job.spec)) }));
    }
    if (isFinal(next.phase) && !isFinal(job.status?.phase)) {
      const condition = next.conditions?.find((c) => c.type === next.phase);
      writes.push(
        this.once(`${fields.jobUid}/ended`, 'job-ended', {
          ...fields,
          phase: next.phase ?? '',
          round: next.round ?? 0,
          reason: condition?.reason ?? '',
          message: condition?.message ?? '',
          modelSha256: next.model?.sha256 ?? null,
        }),
      );
    }
    return Promise.all(writes).then(() => undefined);
  }

  close(): Promise<void> {
    return this.trail.close();
  }

  private once(key: string, event: string, fields: EntryFields): Promise<void> {
    if (this.recorded.has(key)) return Promise.resolve();
    return this.write(event, fields).then(() => void this.recorded.add(key));
  }

  private write(event: string, fields: EntryFields): Promise<void> {
    return this.trail.append(event, fields).then(
      () => undefined,
      (err: Error) => {
        this.log.error('the hub audit trail cannot be written', { file: this.trail.path, event, error: err.message });
        throw err;
      },
    );
  }
}

function siteFields(site: SiteRef): EntryFields {
  return { site: site.name, siteUid: site.uid };
}

function certificateFields(pem: string): EntryFields {
  const cert = new X509Certificate(pem);
  return { serialNumber: cert.serialNumber, notAfter: new Date(cert.validTo).toISOString(), sha256Fingerprint: cert.fingerprint256 };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
