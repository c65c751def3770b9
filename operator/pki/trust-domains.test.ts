/**
 * The trust domains at real node:tls (OpenSSL 3) handshakes: name constraints make a job's CA unable
 * to sign a verifiable certificate for anything but its own job, even with its key in hand, and each
 * verifier takes only the issuer it expects.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { createCertificateAuthority, type CertificateAuthority } from './ca.js';
import { IdentityError, jobTrustDomain, JOB_DOMAINS, TRUST_DOMAIN, type Identity } from './identity.js';
import { generateKeyPair } from './keys.js';
import { expectServer, identityIssuedBy, issuedBy } from './peer-check.js';
import { RevocationListRefused, signRevocationList, verifyRevocationList } from './revocation-list.js';

let siteCa: CertificateAuthority;
let jobRoot: CertificateAuthority;
let heart: CertificateAuthority;
let lungs: CertificateAuthority;

const heartClient: Identity = { role: 'client', namespace: 'hospitals', job: 'heart', site: 'st-olav' };

beforeAll(async () => {
  siteCa = await createCertificateAuthority({ commonName: 'site CA', validDays: 1, permittedUriHosts: [TRUST_DOMAIN] });
  jobRoot = await createCertificateAuthority({ commonName: 'job root', validDays: 1, permittedUriHosts: [`.${JOB_DOMAINS}`] });
  heart = await jobRoot.issueIntermediate({ commonName: 'job heart', validDays: 1, permittedUriHosts: [jobTrustDomain('hospitals', 'heart')] });
  lungs = await jobRoot.issueIntermediate({ commonName: 'job lungs', validDays: 1, permittedUriHosts: [jobTrustDomain('hospitals', 'lungs')] });
});

async function leaf(ca: CertificateAuthority, identity: Identity, usage: 'client' | 'server' = 'client') {
  const key = await generateKeyPair();
  const cert = await ca.issue({ identity, publicKey: key.publicKeyPem, validSeconds: 600, usage, ...(usage === 'server' ? { dnsNames: ['localhost'] } : {}) });
  return { key: key.privateKeyPem, cert };
}

/** What a server trusting only `ca` concludes of a client presenting `client`. */
function verdict(ca: string, client: { key: string; cert: string }, server: { key: string; cert: string }): Promise<string> {
  return new Promise((resolve) => {
    const srv = tls.createServer({ ...server, ca, requestCert: true, rejectUnauthorized: true });
    srv.on('secureConnection', (socket) => {
      resolve('accepted');
      socket.destroy();
      srv.close();
    });
    srv.on('tlsClientError', (err, socket) => {
      resolve(String(socket.authorizationError ?? err.message));
      srv.close();
    });
    srv.listen(0, '127.0.0.1', () => {
      const socket = tls.connect({ host: '127.0.0.1', port: (srv.address() as { port: number }).port, servername: 'localhost', rejectUnauthorized: false, ...client });
      socket.on('error', () => undefined);
      socket.on('secureConnect', () => setTimeout(() => socket.destroy(), 200));
    });
  });
}

describe('name constraints', () => {
  test("a job CA's own client verifies against its anchor", async () => {
    const server = await leaf(heart, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }, 'server');
    expect(await verdict(heart.anchorPem, await leaf(heart, heartClient), server)).toBe('accepted');
  });

  test.each([
    ['another job of the same namespace', { role: 'client', namespace: 'hospitals', job: 'lungs', site: 'st-olav' }],
    ['the same job name in another namespace', { role: 'client', namespace: 'oncology', job: 'heart', site: 'st-olav' }],
    ['a site agent', { role: 'site-agent', site: 'st-olav' }],
    ['the hub', { role: 'hub' }],
  ] as [string, Identity][])('a job CA signing %s fails verification, even under its own anchor', async (_what, identity) => {
    const server = await leaf(heart, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }, 'server');
    expect(await verdict(heart.anchorPem, await leaf(heart, identity), server)).not.toBe('accepted');
    // The constraint is what refuses it: the same certificate from an unconstrained CA is accepted.
    const loose = await (await createCertificateAuthority({ commonName: 'loose root', validDays: 1 })).issueIntermediate({ commonName: 'loose', validDays: 1 });
    const looseServer = await leaf(loose, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }, 'server');
    expect(await verdict(loose.anchorPem, await leaf(loose, identity), looseServer)).toBe('accepted');
  });

  test('the site CA cannot sign a job identity, nor the job root a site agent', async () => {
    const server = await leaf(siteCa, { role: 'hub' }, 'server');
    expect(await verdict(siteCa.certPem, await leaf(siteCa, { role: 'site-agent', site: 'st-olav' }), server)).toBe('accepted');
    expect(await verdict(siteCa.certPem, await leaf(siteCa, heartClient), server)).not.toBe('accepted');
    const jobServer = await leaf(jobRoot, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }, 'server');
    expect(await verdict(jobRoot.certPem, await leaf(jobRoot, heartClient), jobServer)).toBe('accepted');
    expect(await verdict(jobRoot.certPem, await leaf(jobRoot, { role: 'site-agent', site: 'st-olav' }), jobServer)).not.toBe('accepted');
  });
});

describe('issuer checks', () => {
  test('issuedBy tells the signing CA (or its anchor) from any other', async () => {
    const client = await leaf(heart, heartClient);
    expect(issuedBy(new X509Certificate(client.cert), heart.certPem)).toBe(true);
    expect(issuedBy(new X509Certificate(client.cert), heart.anchorPem)).toBe(true);
    expect(issuedBy(new X509Certificate(client.cert), lungs.anchorPem)).toBe(false);
    expect(issuedBy(new X509Certificate(client.cert), jobRoot.certPem)).toBe(false);
    expect(() => identityIssuedBy(new X509Certificate(client.cert), siteCa.certPem, 'the site CA')).toThrow(
      new IdentityError('the peer certificate was not issued by the site CA'),
    );
  });

  test('a client refuses a server that is not the identity it dials, or not signed by its CA', async () => {
    const check = expectServer({ role: 'aggregator', namespace: 'hospitals', job: 'heart' }, heart.anchorPem, "the job's CA");
    const peer = async (ca: CertificateAuthority, identity: Identity) => {
      const { cert } = await leaf(ca, identity, 'server');
      return { raw: new X509Certificate(cert).raw, subjectaltname: new X509Certificate(cert).subjectAltName } as tls.PeerCertificate;
    };
    expect(check('localhost', await peer(heart, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }))).toBeUndefined();
    expect(check('localhost', await peer(heart, heartClient))?.message).toMatch(/not spiffe:\/\/heart.hospitals.jobs.flotilla.dev\/aggregator/);
    expect(check('localhost', await peer(lungs, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }))?.message).toMatch(/not issued by the job's CA/);
    expect(check('elsewhere', await peer(heart, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }))?.message).toMatch(/Hostname\/IP does not match/);
  });
});

describe('revocation lists', () => {
  const uid = '5e0f0c2a-0000-4000-8000-000000000001';
  const list = { namespace: 'hospitals', job: 'heart', issuedAt: new Date(0).toISOString(), sites: [{ name: 'st-olav', uid, revokedAt: new Date(0).toISOString() }] };

  test("are taken when signed by the job's CA for the job", () => {
    const text = signRevocationList(heart.keyPem, list);
    expect(verifyRevocationList(text, heart.anchorPem, { namespace: 'hospitals', job: 'heart' }).sites).toEqual(list.sites);
  });

  test("are refused when signed by another job's CA, for another job, altered, or malformed", () => {
    const job = { namespace: 'hospitals', job: 'heart' };
    expect(() => verifyRevocationList(signRevocationList(lungs.keyPem, list), heart.anchorPem, job)).toThrow(/not signed by this job's CA/);
    expect(() => verifyRevocationList(signRevocationList(heart.keyPem, { ...list, job: 'lungs' }), heart.anchorPem, job)).toThrow(/for hospitals\/lungs/);
    const envelope = JSON.parse(signRevocationList(heart.keyPem, list)) as { payload: string; signature: string };
    const altered = Buffer.from(Buffer.from(envelope.payload, 'base64').toString().replace('st-olav', 'someone')).toString('base64');
    expect(() => verifyRevocationList(JSON.stringify({ ...envelope, payload: altered }), heart.anchorPem, job)).toThrow(RevocationListRefused);
    expect(() => verifyRevocationList('{}', heart.anchorPem, job)).toThrow(/payload and a signature/);
    expect(() => verifyRevocationList('x'.repeat(3 << 20), heart.anchorPem, job)).toThrow(/at most/);
  });
});
