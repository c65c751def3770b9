/**
 * The revoked sites, as a job's aggregator learns them: a list of Site uids signed with the job's
 * own CA key, which only the operator holds, and verified with the job's anchor, which the
 * aggregator already trusts. It is a CRL in spirit, keyed by Site uid rather than by serial: every
 * site-agent and client certificate names the uid of the Site it was issued to (identity.ts).
 * Entries are only ever added, so a replayed older list revokes nothing that should not be, and
 * un-revokes nothing.
 */
import { createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import { checkSiteUid } from './identity.js';

export interface RevokedSite {
  /** The Site's name, for people. */
  name: string;
  /** The uid of the Site incarnation whose certificates are refused. */
  uid: string;
  /** When the hub saw it revoked or deleted (RFC 3339). */
  revokedAt: string;
}

export interface RevocationList {
  /** The job it is for: a list signed for one job is refused by another's aggregator. */
  namespace: string;
  job: string;
  issuedAt: string;
  sites: RevokedSite[];
}

const KIND = 'flotilla.dev/revoked-sites';
/** A list holds at most this many entries, and its text this many bytes. */
export const MAX_REVOKED_SITES = 10_000;
export const MAX_REVOCATION_LIST_BYTES = 2 << 20;

/** Thrown for a list that is malformed, too large, not signed by the job's CA, or for another job. */
export class RevocationListRefused extends Error {
  override name = 'RevocationListRefused';
}

/** The signed text of `list` (JSON: base64 payload and its ECDSA P-256 SHA-256 signature). */
export function signRevocationList(caKeyPem: string, list: RevocationList): string {
  const payload = Buffer.from(JSON.stringify({ kind: KIND, ...list }), 'utf8');
  const signature = sign('sha256', payload, createPrivateKey(caKeyPem));
  return JSON.stringify({ payload: payload.toString('base64'), signature: signature.toString('base64') });
}

/** The list in `text` if the CA of `anchorPem` signed it for `job`; throws RevocationListRefused. */
export function verifyRevocationList(text: string, anchorPem: string, job: { namespace: string; job: string }): RevocationList {
  if (Buffer.byteLength(text, 'utf8') > MAX_REVOCATION_LIST_BYTES) throw new RevocationListRefused(`a revocation list is at most ${MAX_REVOCATION_LIST_BYTES} bytes`);
  let envelope: { payload?: unknown; signature?: unknown };
  try {
    envelope = JSON.parse(text) as typeof envelope;
  } catch {
    throw new RevocationListRefused('a revocation list is JSON with a payload and a signature');
  }
  if (typeof envelope?.payload !== 'string' || typeof envelope.signature !== 'string') {
    throw new RevocationListRefused('a revocation list is JSON with a payload and a signature');
  }
  const payload = Buffer.from(envelope.payload, 'base64');
  const key = new X509Certificate(anchorPem).publicKey;
  if (!verify('sha256', payload, key, Buffer.from(envelope.signature, 'base64'))) {
    throw new RevocationListRefused("the revocation list is not signed by this job's CA");
  }
  const list = JSON.parse(payload.toString('utf8')) as Partial<RevocationList> & { kind?: unknown };
  if (list.kind !== KIND || list.namespace !== job.namespace || list.job !== job.job) {
    throw new RevocationListRefused(`the revocation list is for ${String(list.namespace)}/${String(list.job)}, not ${job.namespace}/${job.job}`);
  }
  if (!Array.isArray(list.sites) || list.sites.length > MAX_REVOKED_SITES) throw new RevocationListRefused('the revocation list has no valid sites');
  const sites = list.sites.map((s: Partial<RevokedSite>) => {
    if (typeof s?.name !== 'string' || typeof s.revokedAt !== 'string') throw new RevocationListRefused('a revoked site needs a name, a uid and revokedAt');
    try {
      return { name: s.name, uid: checkSiteUid(s.uid), revokedAt: s.revokedAt };
    } catch (err) {
      throw new RevocationListRefused((err as Error).message);
    }
  });
  return { namespace: job.namespace, job: job.job, issuedAt: String(list.issuedAt), sites };
}
