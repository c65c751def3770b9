/**
 * Certificate signing requests: how a site gets a certificate without its private key leaving it.
 * The site proves it holds the key (the CSR's signature) and names the identity it expects; the hub
 * signs only if that identity is the one the hub itself decided for that site.
 */
import type { webcrypto } from 'node:crypto';
import type { GeneralName, Pkcs10CertificateRequest } from '@peculiar/x509';
import { x509 } from './x509.js';
import type { CertificateAuthority } from './ca.js';
import { formatIdentity, parseIdentity, type Identity } from './identity.js';
import { SIGNING_ALGORITHM, type KeyPair } from './keys.js';

/** A PKCS#10 CSR (PEM) for `identity`, signed with the subject's own key. */
export async function createCsr(identity: Identity, key: KeyPair): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: key.keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: formatIdentity(identity) }], true)],
  });
  return csr.toString('pem');
}

/** Thrown when a CSR is malformed, forged, or asks for an identity it may not have. */
export class CsrRefusedError extends Error {
  override name = 'CsrRefusedError';
}

const SUBJECT_ALT_NAME = '2.5.29.17';

/** The identity a CSR asks for: its only SAN, which must be one URI. */
function requestedIdentity(csr: Pkcs10CertificateRequest): Identity {
  let names: readonly GeneralName[];
  try {
    const sans = csr.extensions.filter((e) => e.type === SUBJECT_ALT_NAME);
    names = sans.length === 1 ? new x509.SubjectAlternativeNameExtension(sans[0]!.rawData).names.items : [];
  } catch (err) {
    throw new CsrRefusedError(`the CSR's extensions cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (names.length !== 1 || names[0]!.type !== 'url') {
    throw new CsrRefusedError('the CSR must request exactly one subject alternative name, a Flotilla identity URI');
  }
  try {
    return parseIdentity(names[0]!.value);
  } catch (err) {
    throw new CsrRefusedError(`the CSR requests an invalid identity: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Signs a CSR, after checking that it is well formed, that its signature verifies with the key it
 * carries (the requester holds the private key), and that it requests exactly `expectedIdentity`.
 * Anything else in the CSR (subject, other extensions) is ignored: the CA decides the certificate,
 * a client certificate (sites only ever dial out). Returns the chain as CertificateAuthority.issue.
 */
export async function signCsr(
  ca: CertificateAuthority,
  csrPem: string,
  options: { expectedIdentity: Identity; validSeconds: number; siteUid?: string },
): Promise<string> {
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CsrRefusedError(`not a PKCS#10 certificate request: ${(err as Error).message}`, { cause: err });
  }
  const algorithm = csr.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new CsrRefusedError(`the CSR's key is ${algorithm.name} ${algorithm.namedCurve ?? ''}; only ECDSA P-256 is accepted`);
  }
  let verified: boolean;
  try {
    verified = await csr.verify();
  } catch (err) {
    throw new CsrRefusedError(`the CSR signature cannot be checked: ${(err as Error).message}`, { cause: err });
  }
  if (!verified) throw new CsrRefusedError('the CSR signature does not verify with its own public key');

  const requested = formatIdentity(requestedIdentity(csr));
  const expected = formatIdentity(options.expectedIdentity);
  if (requested !== expected) {
    throw new CsrRefusedError(`the CSR requests identity ${requested}, but this requester may only have ${expected}`);
  }
  return ca.issue({
    identity: options.expectedIdentity,
    publicKey: csr.publicKey.toString('pem'),
    validSeconds: options.validSeconds,
    usage: 'client',
    ...(options.siteUid === undefined ? {} : { siteUid: options.siteUid }),
  });
}
