/**
 * A job's PKI as the hub makes it (a root, the job's issuing CA), and the certificates an attacker
 * could hold or craft: a listed site's real one, one of another job, of another CA, expired, and
 * leaves the hub's CA would never issue (CA:TRUE, no identity, two identities), signed with the
 * job's issuing key as if it had leaked. TLS folders have a Secret's layout (tls.key, tls.crt, ca.crt).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createCertificateAuthority, type CertificateAuthority } from '../../../operator/pki/ca.js';
import { writeTlsFiles } from '../../../operator/pki/files.js';
import { formatIdentity, type Identity } from '../../../operator/pki/identity.js';
import { generateKeyPair, loadKeyPair, SIGNING_ALGORITHM } from '../../../operator/pki/keys.js';
import { x509 } from '../../../operator/pki/x509.js';

export interface ClientCertOptions {
  identity?: Identity;
  validSeconds?: number;
  /** Signed by another root's issuing CA (trusted by no one here). */
  otherCa?: boolean;
  /** Signed by a sibling issuing CA of the same root: another job's. */
  otherJobCa?: boolean;
}

export interface CraftedLeaf {
  /** URI SANs; none, one or several. */
  uris: string[];
  /** basicConstraints CA:TRUE on a leaf. */
  isCa?: boolean;
  /** Leave out the clientAuth extended key usage (serverAuth only). */
  serverAuthOnly?: boolean;
}

export class HostilePki {
  private constructor(
    readonly dir: string,
    readonly namespace: string,
    readonly job: string,
    readonly jobCa: CertificateAuthority,
    private readonly siblingCa: CertificateAuthority,
  ) {}

  static async create(dir: string, namespace: string, job: string): Promise<HostilePki> {
    const root = await createCertificateAuthority({ commonName: 'flotilla hostile-test hub', validDays: 1 });
    const jobCa = await root.issueIntermediate({ commonName: `flotilla job ${namespace}/${job}`, validDays: 1 });
    const sibling = await root.issueIntermediate({ commonName: `flotilla job ${namespace}/other`, validDays: 1 });
    return new HostilePki(dir, namespace, job, jobCa, sibling);
  }

  siteIdentity(site: string, job = this.job, namespace = this.namespace): Identity {
    return { role: 'client', namespace, job, site };
  }

  /** The aggregator's folder: a server certificate for 127.0.0.1 and localhost, trusting the job's CA alone. */
  async aggregator(): Promise<string> {
    const key = await generateKeyPair();
    const certPem = await this.jobCa.issue({
      identity: { role: 'aggregator', namespace: this.namespace, job: this.job },
      publicKey: key.keys.publicKey,
      validSeconds: 3600,
      usage: 'server',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    return this.folder('aggregator', { keyPem: key.privateKeyPem, certPem, caPem: this.jobCa.anchorPem });
  }

  /** A client's folder: by default a real certificate of a listed site, as the hub issues it. */
  async client(site: string, options: ClientCertOptions = {}): Promise<string> {
    let ca = this.jobCa;
    if (options.otherJobCa) ca = this.siblingCa;
    if (options.otherCa) {
      const other = await createCertificateAuthority({ commonName: 'someone else', validDays: 1 });
      ca = await other.issueIntermediate({ commonName: 'someone else issuing', validDays: 1 });
    }
    const key = await generateKeyPair();
    const identity = options.identity ?? this.siteIdentity(site);
    const certPem = await ca.issue({ identity, publicKey: key.keys.publicKey, validSeconds: options.validSeconds ?? 3600, usage: 'client' });
    return this.folder(`client-${site}-${randomBytes(3).toString('hex')}`, { keyPem: key.privateKeyPem, certPem, caPem: this.jobCa.anchorPem });
  }

  /** A leaf the hub would never issue, signed with the job's issuing CA key. */
  async crafted(name: string, leaf: CraftedLeaf): Promise<string> {
    const signer = await loadKeyPair(this.jobCa.keyPem);
    const issuer = new x509.X509Certificate(this.jobCa.certPem);
    const key = await generateKeyPair();
    const publicKey = await x509.PublicKey.create(key.keys.publicKey);
    const usages = leaf.serverAuthOnly ? [x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.clientAuth];
    const keyUsage = leaf.isCa ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign : x509.KeyUsageFlags.digitalSignature;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString('hex'),
      subject: [{ CN: [name] }],
      issuer: issuer.subjectName,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      publicKey,
      signingKey: signer.keys.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(leaf.isCa ?? false, undefined, true),
        new x509.KeyUsagesExtension(keyUsage, true),
        new x509.ExtendedKeyUsageExtension(usages),
        ...(leaf.uris.length > 0 ? [new x509.SubjectAlternativeNameExtension(leaf.uris.map((value) => ({ type: 'url' as const, value })))] : []),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        new x509.AuthorityKeyIdentifierExtension(issuer.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId),
      ],
    });
    const certPem = `${cert.toString('pem')}\n${this.jobCa.certPem}`;
    return this.folder(`crafted-${name}`, { keyPem: key.privateKeyPem, certPem, caPem: this.jobCa.anchorPem });
  }

  uri(identity: Identity): string {
    return formatIdentity(identity);
  }

  private async folder(name: string, files: { keyPem: string; certPem: string; caPem: string }): Promise<string> {
    const dir = path.join(this.dir, name);
    await writeTlsFiles(dir, files);
    return dir;
  }
}
