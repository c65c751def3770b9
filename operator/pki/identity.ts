/**
 * Who a peer is. Identities live in certificates as one SPIFFE-style URI SAN and nowhere else:
 * a peer's namespace, job, site and role are read from the certificate it proved at the TLS
 * handshake, never from what it says in messages.
 */
import type { PeerCertificate } from 'node:tls';
import { X509Certificate as NodeCryptoX509Certificate } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { x509 } from './x509.js';

export const TRUST_DOMAIN = 'flotilla.dev';
const PREFIX = `spiffe://${TRUST_DOMAIN}/`;

/** A site's training client for one job: `spiffe://flotilla.dev/ns/<ns>/job/<job>/site/<site>`. */
export interface ClientIdentity {
  role: 'client';
  namespace: string;
  job: string;
  site: string;
}

/** A job's aggregator: `spiffe://flotilla.dev/ns/<ns>/job/<job>/aggregator`. */
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

export type Identity = ClientIdentity | AggregatorIdentity | SiteAgentIdentity;

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

/** The URI of an identity. Throws IdentityError if a name in it is not a DNS-1123 label. */
export function formatIdentity(identity: Identity): string {
  switch (identity.role) {
    case 'client':
      return (
        `${PREFIX}ns/${checkLabel('namespace', identity.namespace)}` +
        `/job/${checkLabel('job', identity.job)}/site/${checkLabel('site', identity.site)}`
      );
    case 'aggregator':
      return `${PREFIX}ns/${checkLabel('namespace', identity.namespace)}/job/${checkLabel('job', identity.job)}/aggregator`;
    case 'site-agent':
      return `${PREFIX}site/${checkLabel('site', identity.site)}`;
    default:
      throw new IdentityError(`unknown identity role ${JSON.stringify((identity as { role: unknown }).role)}`);
  }
}

/** Reads an identity URI. Anything but the exact forms above is refused with an IdentityError. */
export function parseIdentity(uri: string): Identity {
  if (typeof uri !== 'string' || !uri.startsWith(PREFIX)) {
    throw new IdentityError(`identity ${JSON.stringify(uri)} does not start with ${PREFIX}`);
  }
  const parts = uri.slice(PREFIX.length).split('/');
  const [a, b, c, d, e, f] = parts;
  try {
    if (parts.length === 6 && a === 'ns' && c === 'job' && e === 'site') {
      return { role: 'client', namespace: checkLabel('namespace', b), job: checkLabel('job', d), site: checkLabel('site', f) };
    }
    if (parts.length === 5 && a === 'ns' && c === 'job' && e === 'aggregator') {
      return { role: 'aggregator', namespace: checkLabel('namespace', b), job: checkLabel('job', d) };
    }
    if (parts.length === 2 && a === 'site') {
      return { role: 'site-agent', site: checkLabel('site', b) };
    }
  } catch (err) {
    throw new IdentityError(`identity ${JSON.stringify(uri)}: ${(err as Error).message}`, { cause: err });
  }
  throw new IdentityError(
    `identity ${JSON.stringify(uri)} is none of ${PREFIX}ns/<ns>/job/<job>/site/<site>, ` +
      `${PREFIX}ns/<ns>/job/<job>/aggregator, ${PREFIX}site/<site>`,
  );
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
