import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createCertificateAuthority, type CertificateAuthority } from './ca.js';
import { createCsr, CsrRefusedError, signCsr } from './csr.js';
import { identityOfPeer, type Identity } from './identity.js';
import { generateKeyPair, loadKeyPair } from './keys.js';
import { x509 } from './x509.js';

const stOlav: Identity = { role: 'site-agent', site: 'st-olav' };
const haukeland: Identity = { role: 'site-agent', site: 'haukeland' };

describe('CSRs', () => {
  let ca: CertificateAuthority;

  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: 'Flotilla hub', validDays: 1 });
  });

  test('a site gets a certificate for its own key and the identity the hub expects', async () => {
    const key = await generateKeyPair();
    const chain = await signCsr(ca, await createCsr(stOlav, key), { expectedIdentity: stOlav, validSeconds: 600 });
    const cert = new X509Certificate(chain);
    expect(identityOfPeer(cert)).toEqual(stOlav);
    expect(cert.checkPrivateKey(createPrivateKey(key.privateKeyPem))).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  test('a key loaded back from its PEM signs CSRs too', async () => {
    const key = await loadKeyPair((await generateKeyPair()).privateKeyPem);
    const chain = await signCsr(ca, await createCsr(stOlav, key), { expectedIdentity: stOlav, validSeconds: 60 });
    expect(new X509Certificate(chain).checkPrivateKey(createPrivateKey(key.privateKeyPem))).toBe(true);
  });

  test("a site cannot obtain another site's identity", async () => {
    const csr = await createCsr(haukeland, await generateKeyPair());
    await expect(signCsr(ca, csr, { expectedIdentity: stOlav, validSeconds: 600 })).rejects.toThrow(
      new CsrRefusedError(
        'the CSR requests identity spiffe://flotilla.dev/site/haukeland, but this requester may only have spiffe://flotilla.dev/site/st-olav',
      ),
    );
  });

  test('a CSR whose signature does not verify is refused', async () => {
    const pem = await createCsr(stOlav, await generateKeyPair());
    const der = Buffer.from(new x509.Pkcs10CertificateRequest(pem).rawData);
    der[der.length - 5]! ^= 0x01; // inside the signature
    const forged = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
    await expect(signCsr(ca, forged, { expectedIdentity: stOlav, validSeconds: 600 })).rejects.toThrow(CsrRefusedError);
  });

  test("a CSR carrying someone else's public key (signed by another key) is refused", async () => {
    const victim = await generateKeyPair();
    const attacker = await generateKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: { publicKey: victim.keys.publicKey, privateKey: attacker.keys.privateKey },
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://flotilla.dev/site/st-olav' }])],
    });
    await expect(signCsr(ca, csr.toString('pem'), { expectedIdentity: stOlav, validSeconds: 600 })).rejects.toThrow(
      /signature does not verify/,
    );
  });

  test.each([
    ['no SAN', []],
    ['a DNS name besides the identity', [{ type: 'url', value: 'spiffe://flotilla.dev/site/st-olav' }, { type: 'dns', value: 'evil.example' }]],
    ['a malformed identity', [{ type: 'url', value: 'spiffe://flotilla.dev/site/St-Olav' }]],
  ] as const)('a CSR with %s is refused', async (_what, names) => {
    const key = await generateKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: key.keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: names.length ? [new x509.SubjectAlternativeNameExtension([...names])] : [],
    });
    await expect(signCsr(ca, csr.toString('pem'), { expectedIdentity: stOlav, validSeconds: 600 })).rejects.toThrow(CsrRefusedError);
  });

  test('garbage is refused as not a CSR', async () => {
    await expect(signCsr(ca, 'hello', { expectedIdentity: stOlav, validSeconds: 600 })).rejects.toThrow(/not a PKCS#10/);
  });
});
