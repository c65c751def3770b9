/**
 * Each verifier accepts only the issuer it expects: the TLS handshake proves that a peer's chain
 * ends at a trusted anchor; these checks say which CA must have signed the peer's own certificate,
 * and which identity it must name, so that a chain that verifies through some other path, or a
 * trust store that holds more than it should, is still refused.
 */
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { formatIdentity, IdentityError, identityOfPeer, type Identity } from './identity.js';

type PeerCert = PeerCertificate | X509Certificate | Uint8Array | null | undefined;

function leafOf(cert: PeerCert): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  const raw = cert instanceof Uint8Array ? cert : cert?.raw;
  if (!(raw instanceof Uint8Array) || raw.length === 0) throw new IdentityError('the peer presented no certificate');
  return new X509Certificate(raw);
}

/** Whether `cert` was signed by the CA of `caPem` (its name, key identifier and signature). */
export function issuedBy(cert: PeerCert, caPem: string): boolean {
  const ca = new X509Certificate(caPem);
  const leaf = leafOf(cert);
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
}

/** The peer's identity, if its certificate was signed by the expected CA; throws IdentityError. */
export function identityIssuedBy(cert: PeerCert, caPem: string, issuer: string): Identity {
  if (!issuedBy(cert, caPem)) throw new IdentityError(`the peer certificate was not issued by ${issuer}`);
  return identityOfPeer(leafOf(cert));
}

/**
 * A checkServerIdentity for a TLS client (node:tls, grpc-js VerifyOptions): the usual host name
 * check, then the server must be `expected`, signed by the CA of `caPem` itself. grpc-js hands the
 * callback to node:tls in place of its own check, so the host name check is called here.
 */
export function expectServer(expected: Identity, caPem: string, issuer: string) {
  const want = formatIdentity(expected);
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const hostProblem = checkServerIdentity(host, cert);
    if (hostProblem) return hostProblem;
    try {
      const identity = identityIssuedBy(cert, caPem, issuer);
      if (formatIdentity(identity) !== want) return new IdentityError(`the server is ${formatIdentity(identity)}, not ${want}`);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  };
}
