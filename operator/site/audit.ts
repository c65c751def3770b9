/**
 * The site agent's own audit trail (audit.jsonl in its state volume): what the hospital's agent
 * decided and did. Each job taken in or refused by the site's policy (written when the decision
 * changes, not at every look), each client certificate the hub signed for it, each client pod made,
 * each job's objects removed, the agent's starts and the site's revocation. What the clients sent
 * is in their own trails (client/audit.ts). Entries are written before the agent acts on them
 * where it can (a pod is recorded before it is created); a trail that cannot be written is logged
 * and retried with the next change, never a reason to stop the hospital's agent.
 */
import path from 'node:path';
import { AuditTrail } from '../audit/trail.js';
import type { EntryFields } from '../audit/entry.js';
import type { Logger } from '../log.js';
import type { Assignment } from '../sitelink/assignment.js';
import type { PolicyDecision } from './policy-decision.js';

export const SITE_AUDIT_FILE = 'audit.jsonl';

type Job = Pick<Assignment, 'namespace' | 'job' | 'jobUid'>;

export class SiteAudit {
  /** The last decision written for each job, so that only changes are. */
  private readonly decided = new Map<string, string>();

  private constructor(
    private readonly trail: AuditTrail,
    private readonly log: Logger,
  ) {}

  static async open(stateDir: string, site: string, log: Logger): Promise<SiteAudit> {
    return new SiteAudit(await AuditTrail.open(path.join(stateDir, SITE_AUDIT_FILE), `site-agent/${site}`), log);
  }

  started(fields: { hub: string; version: string }): Promise<void> {
    return this.write('agent-started', fields);
  }

  /** The policy's decision on a job, when it is not the one last written. */
  decision(a: Assignment, d: PolicyDecision): Promise<void> {
    const key = `${a.namespace}/${a.job}/${a.jobUid}`;
    const fields: EntryFields = d.allowed
      ? { ...job(a), image: a.image, claim: d.claimName, limits: JSON.stringify(d.resources.limits) }
      : { ...job(a), reason: d.reason };
    const said = JSON.stringify([d.allowed, fields]);
    if (this.decided.get(key) === said) return Promise.resolve();
    this.decided.set(key, said);
    return this.write(d.allowed ? 'job-admitted' : 'job-refused', fields).catch(() => void this.decided.delete(key));
  }

  certificateIssued(a: Job, notAfter: Date, fingerprint: string): Promise<void> {
    return this.write('client-certificate-issued', { ...job(a), notAfter: notAfter.toISOString(), sha256Fingerprint: fingerprint });
  }

  podCreating(a: Job, pod: string, image: string): Promise<void> {
    return this.write('client-pod-creating', { ...job(a), pod, image });
  }

  /** The objects of a job this run had admitted are gone (the job ended, was refused or unassigned). */
  removed(key: string): Promise<void> {
    const admitted = [...this.decided].filter(([k, said]) => k.startsWith(`${key}/`) && said.startsWith('[true'));
    if (admitted.length === 0) return Promise.resolve();
    for (const [k] of admitted) this.decided.set(k, 'removed');
    const [namespace, name] = key.split('/');
    return this.write('job-objects-removed', { namespace: namespace ?? '', job: name ?? '' });
  }

  revoked(reason: string): Promise<void> {
    return this.write('site-revoked', { reason });
  }

  close(): Promise<void> {
    return this.trail.close();
  }

  private write(event: string, fields: EntryFields): Promise<void> {
    return this.trail.append(event, fields).then(
      () => undefined,
      (err: Error) => {
        this.log.error('the audit trail cannot be written', { file: this.trail.path, event, error: err.message });
        throw err;
      },
    );
  }
}

function job(a: Job): EntryFields {
  return { namespace: a.namespace, job: a.job, jobUid: a.jobUid };
}
