/**
 * The sites this aggregator refuses because the hub revoked them: Site uids from lists signed by
 * the job's own CA (pki/revocation-list.ts), the one at the pod's start (a file beside the job
 * manifest) and those the operator sends to the metrics port since (PUT /revocations). Entries are
 * only added. Every call checks the caller's Site uid against them, and calls in flight of a site
 * newly revoked are ended (server.ts).
 */
import { readFile } from 'node:fs/promises';
import { verifyRevocationList, type RevokedSite } from '../pki/revocation-list.js';

export class SiteRevocations {
  private readonly revoked = new Map<string, RevokedSite>();
  private readonly listeners = new Set<(uids: string[]) => void>();

  constructor(
    private readonly anchorPem: string,
    private readonly job: { namespace: string; job: string },
  ) {}

  /** The revocations of `file`, which must be a list signed for this job; throws otherwise (fail closed). */
  static async fromFile(file: string, anchorPem: string, job: { namespace: string; job: string }): Promise<SiteRevocations> {
    const revocations = new SiteRevocations(anchorPem, job);
    try {
      revocations.accept(await readFile(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    }
    return revocations;
  }

  /** Takes in a signed list; throws RevocationListRefused for one this job's CA did not sign. */
  accept(text: string): { added: string[]; total: number } {
    const list = verifyRevocationList(text, this.anchorPem, this.job);
    const added = list.sites.filter((s) => !this.revoked.has(s.uid));
    for (const site of added) this.revoked.set(site.uid, site);
    if (added.length > 0) for (const listener of this.listeners) listener(added.map((s) => s.uid));
    return { added: added.map((s) => s.name), total: this.revoked.size };
  }

  /** The revoked site of this uid, or undefined. */
  revokedSite(uid: string): RevokedSite | undefined {
    return this.revoked.get(uid);
  }

  onRevoked(listener: (uids: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
