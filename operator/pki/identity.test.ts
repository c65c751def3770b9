import { X509Certificate } from 'node:crypto';
import { createCertificateAuthority } from './ca.js';
import { formatIdentity, identityOfPeer, IdentityError, parseIdentity, siteUidOfPeer, type Identity } from './identity.js';
import { generateKeyPair } from './keys.js';

const client: Identity = { role: 'client', namespace: 'hospitals', job: 'heart-disease', site: 'st-olav' };
const aggregator: Identity = { role: 'aggregator', namespace: 'hospitals', job: 'heart-disease' };
const siteAgent: Identity = { role: 'site-agent', site: 'st-olav' };

describe('identity URIs', () => {
  test('each role has its exact form, and parsing gives the identity back', () => {
    expect(formatIdentity(client)).toBe('spiffe://heart-disease.hospitals.jobs.flotilla.dev/site/st-olav');
    expect(formatIdentity(aggregator)).toBe('spiffe://heart-disease.hospitals.jobs.flotilla.dev/aggregator');
    expect(formatIdentity(siteAgent)).toBe('spiffe://flotilla.dev/site/st-olav');
    expect(formatIdentity({ role: 'hub' })).toBe('spiffe://flotilla.dev/hub');
    for (const identity of [client, aggregator, siteAgent, { role: 'hub' } as const]) {
      expect(parseIdentity(formatIdentity(identity))).toEqual(identity);
    }
  });

  test.each([
    ['another trust domain', 'spiffe://example.org/site/st-olav'],
    ['another scheme', 'https://flotilla.dev/site/st-olav'],
    ['a trailing slash', 'spiffe://flotilla.dev/site/st-olav/'],
    ['an empty name', 'spiffe://heart..jobs.flotilla.dev/aggregator'],
    ['the old path form of a job', 'spiffe://flotilla.dev/ns/hospitals/job/heart/aggregator'],
    ['a job domain with one label', 'spiffe://heart.jobs.flotilla.dev/aggregator'],
    ['a job domain with three labels', 'spiffe://a.heart.hospitals.jobs.flotilla.dev/aggregator'],
    ['a job domain under another parent', 'spiffe://heart.hospitals.jobs.example.org/aggregator'],
    ['a site agent in a job domain', 'spiffe://heart.hospitals.jobs.flotilla.dev/site'],
    ['the hub with a path', 'spiffe://flotilla.dev/hub/x'],
    ['upper case', 'spiffe://flotilla.dev/site/St-Olav'],
    ['a dot', 'spiffe://flotilla.dev/site/st.olav'],
    ['percent-encoding', 'spiffe://flotilla.dev/site/st%2Dolav'],
    ['a leading hyphen', 'spiffe://flotilla.dev/site/-olav'],
    ['a label over 63 characters', `spiffe://flotilla.dev/site/${'a'.repeat(64)}`],
    ['a query', 'spiffe://flotilla.dev/site/st-olav?x=1'],
    ['a misspelt segment', 'spiffe://heart.hospitals.jobs.flotilla.dev/aggregators'],
    ['an extra segment', 'spiffe://heart.hospitals.jobs.flotilla.dev/site/a/b'],
    ['a client without its site', 'spiffe://heart.hospitals.jobs.flotilla.dev/site/'],
  ])('refuses %s', (_what, uri) => {
    expect(() => parseIdentity(uri)).toThrow(IdentityError);
  });

  test('a 63-character label is accepted', () => {
    const site = `a${'-'.repeat(61)}b`;
    expect(parseIdentity(`spiffe://flotilla.dev/site/${site}`)).toEqual({ role: 'site-agent', site });
  });

  test('formatting refuses names that are not DNS-1123 labels, saying which', () => {
    expect(() => formatIdentity({ ...client, site: 'St Olav' })).toThrow(/site "St Olav" is not a DNS-1123 label/);
    expect(() => formatIdentity({ ...aggregator, namespace: '' })).toThrow(/namespace "" is not a DNS-1123 label/);
  });
});

describe('identityOfPeer', () => {
  test('reads the identity from DER, a node:crypto certificate, and a tls peer certificate shape', async () => {
    const ca = await createCertificateAuthority({ commonName: 'test', validDays: 1 });
    const key = await generateKeyPair();
    const pem = await ca.issue({ identity: client, publicKey: key.publicKeyPem, validSeconds: 60, usage: 'client' });
    const cert = new X509Certificate(pem);
    expect(identityOfPeer(cert.raw)).toEqual(client);
    expect(identityOfPeer(cert)).toEqual(client);
    expect(identityOfPeer({ raw: cert.raw, subjectaltname: cert.subjectAltName } as never)).toEqual(client);
  });

  test('refuses a peer without a certificate, and a certificate without exactly one identity', async () => {
    expect(() => identityOfPeer({} as never)).toThrow(/presented no certificate/);
    expect(() => identityOfPeer(null)).toThrow(IdentityError);
    expect(() => identityOfPeer(Buffer.from('not a certificate'))).toThrow(/cannot be parsed/);

    const ca = await createCertificateAuthority({ commonName: 'test', validDays: 1 });
    const key = await generateKeyPair();
    const serverOnly = await ca.issue({ dnsNames: ['localhost'], publicKey: key.publicKeyPem, validSeconds: 60, usage: 'server' });
    expect(() => identityOfPeer(new X509Certificate(serverOnly))).toThrow(/0 URI SANs/);
  });
});

describe('the Site uid in a certificate', () => {
  test('is written in the subject and read back; a certificate without one names none', async () => {
    const ca = await createCertificateAuthority({ commonName: 'test', validDays: 1 });
    const key = await generateKeyPair();
    const uid = '5e0f0c2a-0000-4000-8000-000000000001';
    const pem = await ca.issue({ identity: siteAgent, siteUid: uid, publicKey: key.publicKeyPem, validSeconds: 60, usage: 'client' });
    expect(new X509Certificate(pem).subject).toBe(`UID=${uid}`);
    expect(siteUidOfPeer(new X509Certificate(pem))).toBe(uid);
    const without = await ca.issue({ identity: siteAgent, publicKey: key.publicKeyPem, validSeconds: 60, usage: 'client' });
    expect(siteUidOfPeer(new X509Certificate(without))).toBeUndefined();
    await expect(ca.issue({ identity: siteAgent, siteUid: 'St-Olav', publicKey: key.publicKeyPem, validSeconds: 60, usage: 'client' })).rejects.toThrow(
      /not a lower-case UUID/,
    );
  });
});
