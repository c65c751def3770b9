/**
 * The site agent's own credentials and where its hub is, kept in one file of its state directory.
 * One file, so that key and certificate are replaced together (atomically, mode 0600): a renewal
 * cut short leaves the old pair, never a new key beside an old certificate.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../process/atomic-file.js';
import { identityOfPeer } from '../pki/identity.js';
import { issuedBy } from '../pki/peer-check.js';

export interface AgentIdentity {
  site: string;
  /** host:port of the gateway's mutual-TLS port. */
  hub: string;
  /** host:port of the gateway's enrolment port. */
  enrollment: string;
  /** The site CA, pinned from the join bundle: the gateway's certificate must be signed by it. */
  caPem: string;
  keyPem: string;
  certificatePem: string;
  /**
   * When the agent received the certificate (RFC 3339). Renewal is timed from here, not from the
   * certificate's notBefore, which the CA backdates for clock skew.
   */
  receivedAt: string;
}

export const IDENTITY_FILE = 'agent.json';

/** When the agent got its certificate, and when that ends. */
export function validityOf(identity: AgentIdentity): { receivedAt: Date; notAfter: Date } {
  return { receivedAt: new Date(identity.receivedAt), notAfter: new Date(new X509Certificate(identity.certificatePem).validTo) };
}

/** Checks that the certificate is the site's and belongs to the key; throws with the reason. */
export function checkIdentity(identity: AgentIdentity, where: string): AgentIdentity {
  for (const field of ['site', 'hub', 'enrollment', 'caPem', 'keyPem', 'certificatePem', 'receivedAt'] as const) {
    if (typeof identity[field] !== 'string' || identity[field] === '') throw new Error(`${where}: ${field} is missing`);
  }
  if (Number.isNaN(Date.parse(identity.receivedAt))) throw new Error(`${where}: receivedAt is not a time`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(identity.certificatePem);
    if (!cert.checkPrivateKey(createPrivateKey(identity.keyPem))) throw new Error('the certificate does not belong to the key');
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
  }
  const named = identityOfPeer(cert);
  if (named.role !== 'site-agent' || named.site !== identity.site) {
    throw new Error(`${where}: the certificate is not site ${identity.site}'s agent certificate`);
  }
  if (!issuedBy(cert, identity.caPem)) throw new Error(`${where}: the certificate was not issued by the pinned site CA`);
  return identity;
}

/** The stored identity, or undefined before enrolment. */
export async function loadIdentity(stateDir: string): Promise<AgentIdentity | undefined> {
  const file = join(stateDir, IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: AgentIdentity;
  try {
    parsed = JSON.parse(text) as AgentIdentity;
  } catch (err) {
    throw new Error(`${file}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  return checkIdentity(parsed, file);
}

export async function saveIdentity(stateDir: string, identity: AgentIdentity): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(
    join(stateDir, IDENTITY_FILE),
    async (file) => {
      await file.chmod(0o600);
      await file.writeFile(JSON.stringify(identity, null, 2));
    },
    { mode: 0o600 },
  );
}
