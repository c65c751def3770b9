import { generateKeyPairSync, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { createCertificateAuthority, loadCertificateAuthority, type CertificateAuthority } from './ca.js';
import type { Identity } from './identity.js';
import { generateKeyPair, type KeyPair } from './keys.js';
import { x509 } from './x509.js';

const site: Identity = { role: 'client', namespace: 'hospitals', job: 'heart', site: 'st-olav' };
const aggregator: Identity = { role: 'aggregator', namespace: 'hospitals', job: 'heart' };

/** The certificates of a PEM chain, leaf first, as OpenSSL (node:crypto) reads them. */
function chainOf(pem: string): NodeX509Certificate[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)!.map((p) => new NodeX509Certificate(p));
}

function extensions(pem: string) {
  const cert = new x509.X509Certificate(chainOf(pem)[0]!.raw);
  return {
    basic: cert.getExtension(x509.BasicConstraintsExtension),
    keyUsage: cert.getExtension(x509.KeyUsagesExtension),
    extendedKeyUsage: cert.getExtension(x509.ExtendedKeyUsageExtension),
    subjectKeyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    authorityKeyId: cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    san: cert.getExtension(x509.SubjectAlternativeNameExtension),
  };
}

describe('the root CA', () => {
  let root: CertificateAuthority;
  let key: KeyPair;

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'Flotilla hub', validDays: 30 });
    key = await generateKeyPair();
  });

  test('is a self-signed P-256 CA with critical CA constraints, backdated a minute', () => {
    const cert = new NodeX509Certificate(root.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=Flotilla hub');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(Date.now() - new Date(cert.validFrom).getTime()).toBeGreaterThanOrEqual(59_000);
    const ext = extensions(root.certPem);
    expect(ext.basic).toMatchObject({ ca: true, critical: true, pathLength: undefined });
    expect(ext.keyUsage).toMatchObject({ critical: true, usages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign });
    expect(ext.subjectKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(ext.authorityKeyId).toBe(ext.subjectKeyId);
    expect(root.rootPem).toBe(root.certPem);
    expect(root.anchorPem).toBe(root.certPem);
    expect(root.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  test('issues leaves with the extensions OpenSSL checks, and the identity as the one URI SAN', async () => {
    const pem = await root.issue({
      identity: aggregator,
      dnsNames: ['aggregator.hospitals.svc', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      publicKey: key.publicKeyPem,
      validSeconds: 3600,
      usage: 'both',
    });
    const [leaf, ...rest] = chainOf(pem);
    expect(rest).toHaveLength(0);
    const ca = new NodeX509Certificate(root.certPem);
    expect(leaf!.checkIssued(ca)).toBe(true);
    expect(leaf!.verify(ca.publicKey)).toBe(true);
    expect(leaf!.ca).toBe(false);
    expect(leaf!.subject).toBeUndefined();
    expect(leaf!.subjectAltName).toBe(
      'URI:spiffe://heart.hospitals.jobs.flotilla.dev/aggregator, DNS:aggregator.hospitals.svc, DNS:localhost, ' +
        'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(leaf!.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(new Date(leaf!.validTo).getTime() - Date.now()).toBeGreaterThan(3590_000);
    const ext = extensions(pem);
    expect(ext.basic).toMatchObject({ ca: false, critical: true });
    expect(ext.keyUsage).toMatchObject({ critical: true, usages: x509.KeyUsageFlags.digitalSignature });
    expect(ext.san?.critical).toBe(true);
    expect(ext.authorityKeyId).toBe(extensions(root.certPem).subjectKeyId);
    expect(ext.subjectKeyId).not.toBe(ext.authorityKeyId);
  });

  test('gives every certificate a fresh random 128-bit serial', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const pem = await root.issue({ identity: site, publicKey: key.publicKeyPem, validSeconds: 60, usage: 'client' });
      serials.add(BigInt(`0x${chainOf(pem)[0]!.serialNumber}`).toString(16).padStart(32, '0'));
    }
    expect(serials.size).toBe(5);
    for (const s of serials) expect(s.length).toBeLessThanOrEqual(32);
  });

  test.each([
    ['a client certificate without identity', { usage: 'client' }, /needs an identity/],
    ['a server certificate without DNS name or IP', { identity: aggregator, usage: 'server' }, /at least one DNS name or IP/],
    ['a bad DNS name', { dnsNames: ['Bad_Name'], usage: 'server' }, /not a lower-case DNS name/],
    ['a bad IP address', { ipAddresses: ['127.0.0.256'], usage: 'server' }, /not an IP address/],
    ['an identity with a bad name', { identity: { ...site, site: 'St Olav' }, usage: 'client' }, /DNS-1123/],
    ['a validity that is not a positive integer', { identity: site, usage: 'client', validSeconds: 0.5 }, /positive integer/],
    ['an unknown usage', { identity: site, usage: 'signing' }, /unknown usage/],
  ])('refuses %s', async (_what, request, error) => {
    await expect(root.issue({ publicKey: key.publicKeyPem, validSeconds: 60, ...request } as never)).rejects.toThrow(error);
  });

  test('ends a certificate that would outlive the CA when the CA ends', async () => {
    const pem = await root.issue({ identity: site, publicKey: key.publicKeyPem, validSeconds: 31 * 86400, usage: 'client' });
    expect(chainOf(pem)[0]!.validTo).toBe(new NodeX509Certificate(root.certPem).validTo);
  });

  test('refuses to certify a key that is not ECDSA P-256', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
    await expect(root.issue({ identity: site, publicKey: rsa.toString(), validSeconds: 60, usage: 'client' })).rejects.toThrow(
      /only ECDSA P-256/,
    );
  });
});

describe('issuing CAs', () => {
  let root: CertificateAuthority;
  let heart: CertificateAuthority;

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'Flotilla hub', validDays: 30 });
    heart = await root.issueIntermediate({ commonName: 'flotilla job hospitals/heart', validDays: 7 });
  });

  test('are signed by the root with path length 0, and have a self-signed twin as anchor', () => {
    const cert = new NodeX509Certificate(heart.certPem);
    const anchor = new NodeX509Certificate(heart.anchorPem);
    const rootCert = new NodeX509Certificate(root.certPem);
    expect(cert.checkIssued(rootCert) && cert.verify(rootCert.publicKey)).toBe(true);
    expect(extensions(heart.certPem).basic).toMatchObject({ ca: true, pathLength: 0, critical: true });
    expect(extensions(heart.certPem).authorityKeyId).toBe(extensions(root.certPem).subjectKeyId);
    expect(anchor.checkIssued(anchor) && anchor.verify(anchor.publicKey)).toBe(true);
    expect(anchor.subject).toBe(cert.subject);
    expect(anchor.publicKey.equals(cert.publicKey)).toBe(true);
    expect(extensions(heart.anchorPem).subjectKeyId).toBe(extensions(heart.certPem).subjectKeyId);
    expect(anchor.validTo).toBe(cert.validTo);
    expect(heart.rootPem).toBe(root.certPem);
  });

  test('need a common name of 1 to 64 characters', async () => {
    await expect(root.issueIntermediate({ commonName: '', validDays: 1 })).rejects.toThrow(/1 to 64 characters/);
    await expect(root.issueIntermediate({ commonName: 'x'.repeat(65), validDays: 1 })).rejects.toThrow(/1 to 64 characters/);
  });

  test('issue chains of leaf then issuing CA, and issue no further CAs', async () => {
    const key = await generateKeyPair();
    const chain = chainOf(await heart.issue({ identity: site, publicKey: key.publicKeyPem, validSeconds: 60, usage: 'client' }));
    expect(chain).toHaveLength(2);
    expect(chain[1]!.raw.equals(new NodeX509Certificate(heart.certPem).raw)).toBe(true);
    expect(chain[0]!.checkIssued(chain[1]!) && chain[0]!.verify(chain[1]!.publicKey)).toBe(true);
    await expect(heart.issueIntermediate({ commonName: 'nested', validDays: 1 })).rejects.toThrow(/signs leaves only/);
  });
});

describe('loadCertificateAuthority', () => {
  let root: CertificateAuthority;
  let heart: CertificateAuthority;

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'Flotilla hub', validDays: 30 });
    heart = await root.issueIntermediate({ commonName: 'flotilla job hospitals/heart', validDays: 7 });
  });

  test('loads a saved root and a saved issuing CA that go on issuing verifiable certificates', async () => {
    const key = await generateKeyPair();
    const loadedRoot = await loadCertificateAuthority(root.certPem, root.keyPem);
    const loadedHeart = await loadCertificateAuthority(heart.certPem, heart.keyPem, heart);
    expect([loadedHeart.certPem, loadedHeart.rootPem, loadedHeart.anchorPem]).toEqual([heart.certPem, root.certPem, heart.anchorPem]);
    for (const [ca, issuer] of [
      [loadedRoot, root.certPem],
      [loadedHeart, heart.certPem],
    ] as const) {
      const leaf = chainOf(await ca.issue({ identity: site, publicKey: key.publicKeyPem, validSeconds: 60, usage: 'client' }))[0]!;
      expect(leaf.verify(new NodeX509Certificate(issuer).publicKey)).toBe(true);
    }
  });

  test('refuses mismatched or incomplete material, saying what is wrong', async () => {
    const other = await createCertificateAuthority({ commonName: 'Other hub', validDays: 30 });
    const otherJob = await other.issueIntermediate({ commonName: 'flotilla job hospitals/heart', validDays: 7 });
    const leafKey = await generateKeyPair();
    const leaf = await root.issue({ identity: site, publicKey: leafKey.publicKeyPem, validSeconds: 60, usage: 'client' });

    await expect(loadCertificateAuthority(root.certPem, other.keyPem)).rejects.toThrow(/does not belong/);
    await expect(loadCertificateAuthority(leaf, leafKey.privateKeyPem)).rejects.toThrow(/not a CA certificate/);
    await expect(loadCertificateAuthority(heart.certPem, heart.keyPem)).rejects.toThrow(/not self-signed/);
    await expect(
      loadCertificateAuthority(heart.certPem, heart.keyPem, { rootPem: other.certPem, anchorPem: heart.anchorPem }),
    ).rejects.toThrow(/not signed by root/);
    await expect(
      loadCertificateAuthority(heart.certPem, heart.keyPem, { rootPem: root.certPem, anchorPem: otherJob.anchorPem }),
    ).rejects.toThrow(/not the self-signed twin/);
    await expect(loadCertificateAuthority('garbage', root.keyPem)).rejects.toThrow(/not a PEM certificate/);
  });
});
