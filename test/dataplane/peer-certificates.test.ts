/**
 * Certificates the hub never issues, signed with the job's own CA key as a thief of that key (or a
 * hub bug) would: the aggregator must still tell a site's client from a certificate authority.
 */
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import { writeTlsFiles } from '../../operator/pki/files.js';
import { formatIdentity } from '../../operator/pki/identity.js';
import { generateKeyPair, loadKeyPair, SIGNING_ALGORITHM } from '../../operator/pki/keys.js';
import { x509 } from '../../operator/pki/x509.js';
import { NAMESPACE, TestPki, codeOf, memoryLogger, rawClient, tempDir, testJob } from './fixtures.js';

/** A client certificate for site `site` of the job, signed by the job's CA, with CA:TRUE when `ca`. */
async function craftedClient(pki: TestPki, dir: string, site: string, ca: boolean): Promise<string> {
  const issuer = new x509.X509Certificate(pki.jobCa.certPem);
  const issuerKey = await loadKeyPair(pki.jobCa.keyPem);
  const key = await generateKeyPair();
  const uri = formatIdentity({ role: 'client', namespace: NAMESPACE, job: pki.job, site });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: ca ? '0badca' : '0600d0',
    subject: [],
    issuer: issuer.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    publicKey: await x509.PublicKey.create(key.keys.publicKey),
    signingKey: issuerKey.keys.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(ca, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (ca ? x509.KeyUsageFlags.keyCertSign : 0), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }], true),
      new x509.AuthorityKeyIdentifierExtension(issuer.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId),
    ],
  });
  const folder = path.join(dir, `crafted-${site}-${ca ? 'ca' : 'leaf'}`);
  await writeTlsFiles(folder, { keyPem: key.privateKeyPem, certPem: `${cert.toString('pem')}\n${pki.jobCa.certPem}`, caPem: pki.jobCa.anchorPem });
  return folder;
}

describe('client certificates the hub would not issue', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let aggregator: RunningAggregator;

  beforeAll(async () => {
    tmp = await tempDir('peer-certificates');
    pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: ['a', 'b'] }, rounds: 1, minSites: 2 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log: memoryLogger().log });
  });

  afterAll(async () => {
    await aggregator.close();
    await tmp.remove();
  });

  it('refuses a certificate with CA:TRUE as a client, and takes the same one as a leaf', async () => {
    const join = async (folder: string) => {
      const client = await rawClient(aggregator.ready.address, folder);
      try {
        return await codeOf((done) => client.join({ protocolVersion: 1, clientVersion: 'test' }, done));
      } finally {
        client.close();
      }
    };
    const asCa = await join(await craftedClient(pki, tmp.dir, 'a', true));
    expect(asCa.code).toBe(status.PERMISSION_DENIED);
    expect(asCa.details).toMatch(/CA certificate/);
    expect(await join(await craftedClient(pki, tmp.dir, 'a', false))).toEqual({ code: status.OK, details: '' });
  });
});
