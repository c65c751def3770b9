/**
 * The hub's certificate authority: a self-signed root, optionally one issuing (intermediate) CA
 * per job, and the leaf certificates of servers and clients. Every certificate is ECDSA P-256 /
 * SHA-256 with the extensions OpenSSL expects of a chain it is asked to verify.
 */
import { createPrivateKey, randomBytes, X509Certificate as NodeX509Certificate, type webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type { Extension, JsonGeneralNames, JsonName, PublicKey, X509Certificate } from '@peculiar/x509';
import { x509 } from './x509.js';
import { checkSiteUid, formatIdentity, SITE_UID_ATTRIBUTE, type Identity } from './identity.js';
import { generateKeyPair, loadKeyPair, SIGNING_ALGORITHM, type KeyPair } from './keys.js';
import { permittedUriHosts } from './name-constraints.js';

export type Usage = 'server' | 'client' | 'both';

export interface IssueRequest {
  /** The peer's identity, written as the certificate's one URI SAN. Required for client usage. */
  identity?: Identity;
  /** The uid of the Site a site agent's or client's certificate is for, written in its subject (identity.ts). */
  siteUid?: string;
  /** DNS SANs of a server. A server certificate needs at least one DNS name or IP address. */
  dnsNames?: string[];
  /** IP SANs of a server, e.g. '127.0.0.1' and '::1' for one reached on loopback. */
  ipAddresses?: string[];
  /** The subject's public key (SPKI PEM or a CryptoKey); the private key stays with the subject. */
  publicKey: string | webcrypto.CryptoKey;
  validSeconds: number;
  usage: Usage;
}

export interface IntermediateRequest {
  /** Unique per issuing CA, e.g. 'flotilla job hospitals/heart': OpenSSL finds issuers by name. */
  commonName: string;
  validDays: number;
  /** Name constraints: the only URI hosts it may sign for (name-constraints.ts); unconstrained when absent. */
  permittedUriHosts?: string[];
}

export interface CertificateAuthority {
  /** This CA's certificate: self-signed for the root, signed by the root for an issuing CA. */
  readonly certPem: string;
  /** This CA's private key, PKCS#8 PEM. */
  readonly keyPem: string;
  /** The hub's self-signed root (equal to certPem for the root itself). Trusting it trusts every job. */
  readonly rootPem: string;
  /**
   * What to trust to accept certificates of this CA alone, e.g. an aggregator that must refuse
   * other jobs' clients at the handshake. For an issuing CA it is a self-signed twin of certPem
   * (same name and key): OpenSSL takes only a self-signed certificate as a trust anchor, and
   * Node's TLS servers cannot be given allowPartialTrustChain. Equal to certPem for the root.
   */
  readonly anchorPem: string;
  readonly notAfter: Date;
  /**
   * Signs a leaf certificate. Returns the chain a TLS peer presents: the leaf followed by this CA's
   * certificate when this CA is an issuing CA (just the leaf when it is the root).
   */
  issue(request: IssueRequest): Promise<string>;
  /** A new issuing CA under this root (path length 0: it signs leaves only), e.g. one per job. */
  issueIntermediate(request: IntermediateRequest): Promise<CertificateAuthority>;
}

/** Clients connect to servers whose clocks differ from the hub's by a little. */
const CLOCK_SKEW_MS = 60_000;
const DAY_MS = 86_400_000;

function serialNumber(): string {
  return randomBytes(16).toString('hex');
}

function positiveInteger(what: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${what} must be a positive integer, got ${value}`);
}

/** A CA's subject: its common name, at most 64 characters (X.520 ub-common-name). */
function caName(commonName: string): JsonName {
  if (typeof commonName !== 'string' || commonName.length === 0 || commonName.length > 64) {
    throw new Error(`a CA's common name must have 1 to 64 characters, got ${JSON.stringify(commonName)}`);
  }
  return [{ CN: [commonName] }];
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

function subjectAltNames(request: IssueRequest): JsonGeneralNames {
  const names: JsonGeneralNames = [];
  if (request.identity) names.push({ type: 'url', value: formatIdentity(request.identity) });
  for (const dns of request.dnsNames ?? []) {
    if (!DNS_NAME.test(dns)) throw new Error(`${JSON.stringify(dns)} is not a lower-case DNS name`);
    names.push({ type: 'dns', value: dns });
  }
  for (const ip of request.ipAddresses ?? []) {
    if (isIP(ip) === 0) throw new Error(`${JSON.stringify(ip)} is not an IP address`);
    names.push({ type: 'ip', value: ip });
  }
  const serverNames = (request.dnsNames?.length ?? 0) + (request.ipAddresses?.length ?? 0);
  if (request.usage !== 'server' && !request.identity) {
    throw new Error(`a ${request.usage} certificate needs an identity: peers are known by it`);
  }
  if (request.usage !== 'client' && serverNames === 0) {
    throw new Error(`a ${request.usage} certificate needs at least one DNS name or IP address`);
  }
  return names;
}

async function p256PublicKey(key: string | webcrypto.CryptoKey): Promise<PublicKey> {
  const publicKey = typeof key === 'string' ? new x509.PublicKey(key) : await x509.PublicKey.create(key);
  const algorithm = publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new Error(`only ECDSA P-256 public keys are certified, got ${algorithm.name} ${algorithm.namedCurve ?? ''}`.trim());
  }
  return publicKey;
}

const EXTENDED_USAGES: Record<Usage, string[]> = {
  server: [x509.ExtendedKeyUsage.serverAuth],
  client: [x509.ExtendedKeyUsage.clientAuth],
  both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
};

/** The extensions of a CA certificate for `publicKey` but the authority key identifier. */
async function caExtensions(publicKey: PublicKey, pathLength: number | undefined, uriHosts: string[] | undefined): Promise<Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ...(uriHosts ? [permittedUriHosts(uriHosts)] : []),
  ];
}

async function selfSignedCa(key: KeyPair, name: JsonName, notBefore: Date, notAfter: Date, pathLength?: number, uriHosts?: string[]) {
  const publicKey = await x509.PublicKey.create(key.keys.publicKey);
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name,
    notBefore,
    notAfter,
    keys: key.keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      ...(await caExtensions(publicKey, pathLength, uriHosts)),
      await x509.AuthorityKeyIdentifierExtension.create(publicKey),
    ],
  });
}

class Authority implements CertificateAuthority {
  readonly certPem: string;
  readonly keyPem: string;
  readonly rootPem: string;
  readonly anchorPem: string;
  readonly notAfter: Date;

  /** `issuing` is absent for the root. */
  constructor(
    private readonly cert: X509Certificate,
    private readonly key: KeyPair,
    issuing?: { root: X509Certificate; anchor: X509Certificate },
  ) {
    this.certPem = cert.toString('pem');
    this.keyPem = key.privateKeyPem;
    this.rootPem = issuing ? issuing.root.toString('pem') : this.certPem;
    this.anchorPem = issuing ? issuing.anchor.toString('pem') : this.certPem;
    this.notAfter = cert.notAfter;
  }

  private get isRoot(): boolean {
    return this.certPem === this.rootPem;
  }

  /**
   * Signs a certificate for `publicKey`, valid from a minute ago (clock skew) until `notAfter`, or
   * until this CA ends if that is sooner: a chain is no longer trusted once its issuer has expired,
   * and a holder renews by its certificate's actual notAfter.
   */
  private async sign(publicKey: PublicKey, notAfter: Date, subject: JsonName, extensions: Extension[]) {
    const authorityKey = this.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
    return x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject,
      issuer: this.cert.subjectName,
      notBefore: new Date(Date.now() - CLOCK_SKEW_MS),
      notAfter: notAfter < this.notAfter ? notAfter : this.notAfter,
      publicKey,
      signingKey: this.key.keys.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [...extensions, new x509.AuthorityKeyIdentifierExtension(authorityKey)],
    });
  }

  async issue(request: IssueRequest): Promise<string> {
    positiveInteger('validSeconds', request.validSeconds);
    if (!Object.hasOwn(EXTENDED_USAGES, request.usage)) throw new Error(`unknown usage ${JSON.stringify(request.usage)}`);
    const names = subjectAltNames(request);
    const publicKey = await p256PublicKey(request.publicKey);
    const leaf = await this.sign(
      publicKey,
      new Date(Date.now() + request.validSeconds * 1000),
      // The identity lives in the SAN, critical as the subject may be empty (RFC 5280 4.2.1.6); the
      // subject names at most the Site's uid.
      request.siteUid === undefined ? [] : [{ [SITE_UID_ATTRIBUTE]: [checkSiteUid(request.siteUid)] }],
      [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(EXTENDED_USAGES[request.usage]),
        new x509.SubjectAlternativeNameExtension(names, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ],
    );
    return this.isRoot ? leaf.toString('pem') : `${leaf.toString('pem')}\n${this.certPem}`;
  }

  async issueIntermediate(request: IntermediateRequest): Promise<CertificateAuthority> {
    if (!this.isRoot) throw new Error('an issuing CA signs leaves only; issuing CAs come from the root');
    positiveInteger('validDays', request.validDays);
    const key = await generateKeyPair();
    const name = caName(request.commonName);
    const publicKey = await x509.PublicKey.create(key.keys.publicKey);
    const notAfter = new Date(Date.now() + request.validDays * DAY_MS);
    const cert = await this.sign(publicKey, notAfter, name, await caExtensions(publicKey, 0, request.permittedUriHosts));
    const anchor = await selfSignedCa(key, name, cert.notBefore, cert.notAfter, 0, request.permittedUriHosts);
    return new Authority(cert, key, { root: this.cert, anchor });
  }
}

/** A new self-signed root CA with a fresh key, optionally constrained to URI hosts (name-constraints.ts). */
export async function createCertificateAuthority(options: {
  commonName: string;
  validDays: number;
  permittedUriHosts?: string[];
}): Promise<CertificateAuthority> {
  positiveInteger('validDays', options.validDays);
  const now = Date.now();
  const key = await generateKeyPair();
  const cert = await selfSignedCa(
    key,
    caName(options.commonName),
    new Date(now - CLOCK_SKEW_MS),
    new Date(now + options.validDays * DAY_MS),
    undefined,
    options.permittedUriHosts,
  );
  return new Authority(cert, key);
}

function caCertificate(what: string, pem: string): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new x509.X509Certificate(pem);
  } catch (err) {
    throw new Error(`${what} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  if (!constraints?.ca || !keyUsage || (keyUsage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new Error(`${what} ${cert.subject} is not a CA certificate`);
  }
  if (!cert.getExtension(x509.SubjectKeyIdentifierExtension)) {
    throw new Error(`${what} ${cert.subject} has no subject key identifier`);
  }
  return cert;
}

/**
 * Loads a CA saved from its PEM fields. The root needs only its certificate and key; an issuing CA
 * also its root and anchor. Refuses a key that does not match, a certificate that is not a CA, an
 * issuing CA its root did not sign, and an anchor that is not its self-signed twin.
 */
export async function loadCertificateAuthority(
  certPem: string,
  keyPem: string,
  issuing?: { rootPem: string; anchorPem: string },
): Promise<CertificateAuthority> {
  const cert = caCertificate('CA certificate', certPem);
  const key = await loadKeyPair(keyPem);
  if (!new NodeX509Certificate(certPem).checkPrivateKey(createPrivateKey(key.privateKeyPem))) {
    throw new Error(`the private key does not belong to CA certificate ${cert.subject}`);
  }
  if (!issuing) {
    if (!(await cert.isSelfSigned())) {
      throw new Error(`CA certificate ${cert.subject} is not self-signed: an issuing CA needs its root and anchor`);
    }
    return new Authority(cert, key);
  }
  const root = caCertificate('root certificate', issuing.rootPem);
  const anchor = caCertificate('anchor certificate', issuing.anchorPem);
  if (!(await root.isSelfSigned())) throw new Error(`root certificate ${root.subject} is not self-signed`);
  if (cert.issuer !== root.subject || !(await cert.verify({ publicKey: root.publicKey, signatureOnly: true }))) {
    throw new Error(`CA certificate ${cert.subject} was not signed by root ${root.subject}`);
  }
  const sameKey = Buffer.from(anchor.publicKey.rawData).equals(Buffer.from(cert.publicKey.rawData));
  if (!sameKey || anchor.subject !== cert.subject || !(await anchor.isSelfSigned())) {
    throw new Error(`anchor certificate ${anchor.subject} is not the self-signed twin of ${cert.subject}`);
  }
  return new Authority(cert, key, { root, anchor });
}
