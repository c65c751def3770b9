/**
 * Who a peer is. Identities live in certificates as one SPIFFE-style URI SAN and nowhere else:
 * a peer's namespace, job, site and role are read from the certificate it proved at the TLS
 * handshake, never from what it says in messages.
 *
 * Two kinds of trust domain (docs/security.md):
 * - flotilla.dev: the hub's site gateway and the hospitals' site agents, signed by the site CA;
 * - <job>.<ns>.jobs.flotilla.dev, one per FederatedJob: its aggregator and its sites' clients,
 *   signed by that job's CA alone. The job is in the host because X.509 name constraints on a URI
 *   constrain its host only (RFC 5280 4.2.1.10): so each job's CA is constrained to its own job's
 *   names, and no job CA can name a site agent or the hub.
 */
import type { PeerCertificate } from 'node:tls';
import { X509Certificate as NodeCryptoX509Certificate } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { x509 } from './x509.js';

export const TRUST_DOMAIN = 'flotilla.dev';
/** The parent of every job's trust domain. */
export const JOB_DOMAINS = `jobs.${TRUST_DOMAIN}`;
const PREFIX = `spiffe://${TRUST_DOMAIN}/`;

/** A site's training client for one job: `spiffe://<job>.<ns>.jobs.flotilla.dev/site/<site>`. */
export interface ClientIdentity {
  role: 'client';
  namespace: string;
  job: string;
  site: string;
}

/** A job's aggregator: `spiffe://<job>.<ns>.jobs.flotilla.dev/aggregator`. */
export interface AggregatorIdentity {
  role: 'aggregator';
  namespace: string;
  job: string;
}

/** A hospital's site agent, which talks to the hub: `spiffe://flotilla.dev/site/<site>`. */
export interface SiteAgentIdentity {
  role: 'site-agent';
  site: string;
}

/** The hub's site gateway, which site agents dial: `spiffe://flotilla.dev/hub`. */
export interface HubIdentity {
  role: 'hub';
}

export type Identity = ClientIdentity | AggregatorIdentity | SiteAgentIdentity | HubIdentity;

/** Thrown for anything that is not a well-formed Flotilla identity; map it to UNAUTHENTICATED. */
export class IdentityError extends Error {
  override name = 'IdentityError';
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkLabel(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 63 || !DNS1123_LABEL.test(value)) {
    throw new IdentityError(
      `${what} ${JSON.stringify(value)} is not a DNS-1123 label (lower-case letters, digits and '-', ` +
        `starting and ending with a letter or digit, at most 63 characters)`,
    );
  }
  return value;
}

/** The trust domain of a job: the host of its aggregator's and its clients' identities. */
export function jobTrustDomain(namespace: string, job: string): string {
  return `${checkLabel('job', job)}.${checkLabel('namespace', namespace)}.${JOB_DOMAINS}`;
}

/** The URI of an identity. Throws IdentityError if a name in it is not a DNS-1123 label. */
export function formatIdentity(identity: Identity): string {
  switch (identity.role) {
    case 'client':
      return `spiffe://${jobTrustDomain(identity.namespace, identity.job)}/site/${checkLabel('site', identity.site)}`;
    case 'aggregator':
      return `spiffe://${jobTrustDomain(identity.namespace, identity.job)}/aggregator`;
    case 'site-agent':
      return `${PREFIX}site/${checkLabel('site', identity.site)}`;
    case 'hub':
      return `${PREFIX}hub`;
    default:
      throw new IdentityError(`unknown identity role ${JSON.stringify((identity as { role: unknown }).role)}`);
  }
}

const JOB_DOMAIN = new RegExp(`^spiffe://([^/.]+)\\.([^/.]+)\\.${JOB_DOMAINS.replaceAll('.', '\\.')}/(.*)$`);

/** Reads an identity URI. Anything but the exact forms above is refused with an IdentityError. */
export function parseIdentity(uri: string): Identity {
  const forms =
    `spiffe://<job>.<ns>.${JOB_DOMAINS}/site/<site>, spiffe://<job>.<ns>.${JOB_DOMAINS}/aggregator, ` + `${PREFIX}site/<site>, ${PREFIX}hub`;
  if (typeof uri !== 'string') throw new IdentityError(`identity ${JSON.stringify(uri)} is none of ${forms}`);
  try {
    const job = JOB_DOMAIN.exec(uri);
    if (job) {
      const [, name, namespace, path] = job as unknown as [string, string, string, string];
      const parts = path.split('/');
      if (parts.length === 2 && parts[0] === 'site') {
        return { role: 'client', namespace: checkLabel('namespace', namespace), job: checkLabel('job', name), site: checkLabel('site', parts[1]) };
      }
      if (path === 'aggregator') return { role: 'aggregator', namespace: checkLabel('namespace', namespace), job: checkLabel('job', name) };
    } else if (uri.startsWith(PREFIX)) {
      const parts = uri.slice(PREFIX.length).split('/');
      if (parts.length === 2 && parts[0] === 'site') return { role: 'site-agent', site: checkLabel('site', parts[1]) };
      if (parts.length === 1 && parts[0] === 'hub') return { role: 'hub' };
    }
  } catch (err) {
    throw new IdentityError(`identity ${JSON.stringify(uri)}: ${(err as Error).message}`, { cause: err });
  }
  throw new IdentityError(`identity ${JSON.stringify(uri)} is none of ${forms}`);
}

/** The DER bytes of a certificate in any of the shapes Node hands out. */
function derOf(cert: PeerCertificate | NodeCryptoX509Certificate | Uint8Array | null | undefined): Uint8Array {
  if (cert instanceof Uint8Array) return cert;
  if (cert instanceof NodeCryptoX509Certificate) return cert.raw;
  // tls.getPeerCertificate() returns {} (no .raw) when the peer sent no certificate.
  if (cert && typeof cert === 'object' && cert.raw instanceof Uint8Array && cert.raw.length > 0) return cert.raw;
  throw new IdentityError('the peer presented no certificate');
}

/** The URI SANs of a certificate, as written (parsed from DER, not from Node's SAN string). */
function uriNamesOf(der: Uint8Array): string[] {
  let cert: X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch (err) {
    throw new IdentityError(`the peer certificate cannot be parsed: ${(err as Error).message}`, { cause: err });
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.filter((n) => n.type === 'url').map((n) => n.value) : [];
}

/**
 * The identity of a peer from its certificate: exactly one URI SAN, a Flotilla identity.
 * Accepts what a node:tls / grpc-js server gets (`socket.getPeerCertificate()`,
 * `call.getAuthContext().sslPeerCertificate`), a node:crypto X509Certificate, or DER bytes.
 * The certificate must already have been verified by the TLS handshake: this only reads it.
 */
export function identityOfPeer(cert: PeerCertificate | NodeCryptoX509Certificate | Uint8Array | null | undefined): Identity {
  const uris = uriNamesOf(derOf(cert));
  if (uris.length !== 1) {
    throw new IdentityError(`the peer certificate has ${uris.length} URI SANs; a Flotilla identity needs exactly one`);
  }
  return parseIdentity(uris[0]!);
}

/**
 * The X.500 "UID" attribute (RFC 4519 uid). Site-agent and client certificates carry the uid of the
 * Site they were issued to in their subject: a Site deleted and made again has a new uid, so the
 * certificates of the earlier one are told apart from the new one's (revocation holds).
 */
export const SITE_UID_ATTRIBUTE = '0.9.2342.19200300.100.1.1';

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Throws IdentityError unless `uid` is a Kubernetes object uid (a lower-case UUID). */
export function checkSiteUid(uid: unknown): string {
  if (typeof uid !== 'string' || !UID.test(uid)) throw new IdentityError(`site uid ${JSON.stringify(uid)} is not a lower-case UUID`);
  return uid;
}

/** The Site uid a certificate names (see SITE_UID_ATTRIBUTE), or undefined when it names none or several. */
export function siteUidOfPeer(cert: PeerCertificate | NodeCryptoX509Certificate | Uint8Array | null | undefined): string | undefined {
  let parsed: X509Certificate;
  try {
    parsed = new x509.X509Certificate(derOf(cert));
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw new IdentityError(`the peer certificate cannot be parsed: ${(err as Error).message}`, { cause: err });
  }
  const values = parsed.subjectName.getField(SITE_UID_ATTRIBUTE);
  return values.length === 1 && UID.test(values[0]!) ? values[0] : undefined;
}
