/**
 * The certificates against real node:tls (OpenSSL 3) handshakes on loopback: the server requires
 * and verifies a client certificate; the outcome is what the server saw.
 */
import { connect as netConnect } from 'node:net';
import * as tls from 'node:tls';
import { createCertificateAuthority, type CertificateAuthority, type IssueRequest } from './ca.js';
import { identityOfPeer, type Identity } from './identity.js';
import { generateKeyPair } from './keys.js';
import { untilExpired } from '../../test/support/clock.js';

type Outcome = { accepted: Identity } | { refused: string };

interface Credentials {
  key: string;
  cert: string;
}

async function credentialsFrom(ca: CertificateAuthority, request: Omit<IssueRequest, 'publicKey'>): Promise<Credentials> {
  const key = await generateKeyPair();
  return { key: key.privateKeyPem, cert: await ca.issue({ ...request, publicKey: key.publicKeyPem }) };
}

const aggregatorOf = (job: string): Identity => ({ role: 'aggregator', namespace: 'hospitals', job });
const clientOf = (job: string, site: string): Identity => ({ role: 'client', namespace: 'hospitals', job, site });

function serverCredentials(ca: CertificateAuthority, job = 'heart'): Promise<Credentials> {
  return credentialsFrom(ca, {
    identity: aggregatorOf(job),
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    validSeconds: 3600,
    usage: 'server',
  });
}

/**
 * Runs one handshake against a server that demands a verified client certificate. `client` null
 * sends plaintext instead of TLS. The verdict is the server's: a secure connection with the
 * peer's identity, or the error it refused the handshake with.
 */
function handshake(server: tls.TlsOptions, client: tls.ConnectionOptions | null): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const tlsServer = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: true });
    const sockets: { destroy(): void }[] = [];
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      for (const s of sockets) s.destroy();
      tlsServer.close();
      resolve(outcome);
    };
    tlsServer.on('secureConnection', (socket) => {
      sockets.push(socket);
      try {
        finish({ accepted: identityOfPeer(socket.getPeerCertificate()) });
      } catch (err) {
        reject(err);
      }
    });
    // A client certificate that fails verification is dropped without a TLS alert: the reason
    // is on the socket, the error itself only says the socket hung up.
    tlsServer.on('tlsClientError', (err, socket) => finish({ refused: String(socket.authorizationError ?? err.message) }));
    tlsServer.listen(0, '127.0.0.1', () => {
      const { port } = tlsServer.address() as { port: number };
      if (client === null) {
        const socket = netConnect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.on('error', () => undefined);
        sockets.push(socket);
        return;
      }
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...client });
      // With TLS 1.3 the client learns of a refusal only after its side completed; its view is not the verdict.
      socket.on('error', () => undefined);
      sockets.push(socket);
    });
  });
}

describe('mutual TLS with hub-issued certificates', () => {
  let root: CertificateAuthority;
  let server: Credentials;

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'Flotilla test hub', validDays: 1 });
    server = await serverCredentials(root);
  });

  test('a client certificate from the hub CA is accepted and its identity read from the peer certificate', async () => {
    const client = await credentialsFrom(root, { identity: clientOf('heart', 'st-olav'), validSeconds: 600, usage: 'client' });
    const outcome = await handshake({ ...server, ca: root.certPem }, { ...client, ca: root.certPem });
    expect(outcome).toEqual({ accepted: clientOf('heart', 'st-olav') });
  });

  test('the client verifies the server: hostname localhost and IP 127.0.0.1 both match its SANs', async () => {
    const client = await credentialsFrom(root, { identity: clientOf('heart', 'a'), validSeconds: 600, usage: 'client' });
    for (const servername of ['localhost', '127.0.0.1']) {
      const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
        const tlsServer = tls.createServer({ ...server, ca: root.certPem, requestCert: true, rejectUnauthorized: true });
        tlsServer.on('secureConnection', (s) => s.end());
        tlsServer.listen(0, '127.0.0.1', () => {
          const { port } = tlsServer.address() as { port: number };
          const socket = tls.connect({ host: '127.0.0.1', port, servername, ...client, ca: root.certPem }, () => {
            resolve(socket.getPeerCertificate());
            socket.destroy();
            tlsServer.close();
          });
          socket.on('error', (err) => {
            tlsServer.close();
            reject(err);
          });
        });
      });
      expect(identityOfPeer(peer)).toEqual(aggregatorOf('heart'));
    }
  });

  test('a certificate from another CA is refused at the handshake', async () => {
    const stranger = await createCertificateAuthority({ commonName: 'Flotilla test hub', validDays: 1 });
    const client = await credentialsFrom(stranger, { identity: clientOf('heart', 'st-olav'), validSeconds: 600, usage: 'client' });
    const outcome = await handshake({ ...server, ca: root.certPem }, { ...client, ca: root.certPem });
    expect(outcome).toEqual({ refused: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  test('an expired certificate is refused at the handshake', async () => {
    const client = await credentialsFrom(root, { identity: clientOf('heart', 'st-olav'), validSeconds: 1, usage: 'client' });
    await untilExpired(client.cert);
    const outcome = await handshake({ ...server, ca: root.certPem }, { ...client, ca: root.certPem });
    expect(outcome).toEqual({ refused: 'CERT_HAS_EXPIRED' });
  });

  test('a client without a certificate, and a plaintext client, are refused at the handshake', async () => {
    expect(await handshake({ ...server, ca: root.certPem }, { ca: root.certPem })).toEqual({
      refused: expect.stringMatching(/certificate/i),
    });
    expect(await handshake({ ...server, ca: root.certPem }, null)).toEqual({ refused: expect.any(String) });
  });

  test('a server-only certificate cannot be used as a client certificate', async () => {
    const outcome = await handshake({ ...server, ca: root.certPem }, { ...server, ca: root.certPem });
    expect(outcome).toEqual({ refused: 'INVALID_PURPOSE' });
  });
});

describe('per-job issuing CAs', () => {
  let root: CertificateAuthority;
  let heart: CertificateAuthority;
  let lungs: CertificateAuthority;

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'Flotilla test hub', validDays: 2 });
    heart = await root.issueIntermediate({ commonName: 'job hospitals/heart', validDays: 1 });
    lungs = await root.issueIntermediate({ commonName: 'job hospitals/lungs', validDays: 1 });
  });

  test("an aggregator trusting its job's anchor accepts its job's clients and refuses another job's", async () => {
    const server = await serverCredentials(heart);
    const own = await credentialsFrom(heart, { identity: clientOf('heart', 'st-olav'), validSeconds: 600, usage: 'client' });
    const other = await credentialsFrom(lungs, { identity: clientOf('lungs', 'st-olav'), validSeconds: 600, usage: 'client' });

    expect(await handshake({ ...server, ca: heart.anchorPem }, { ...own, ca: root.rootPem })).toEqual({
      accepted: clientOf('heart', 'st-olav'),
    });
    expect(await handshake({ ...server, ca: heart.anchorPem }, { ...other, ca: root.rootPem })).toEqual({
      refused: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    });
  });

  test("a client trusting only its job's anchor verifies that job's aggregator", async () => {
    const server = await serverCredentials(heart);
    const own = await credentialsFrom(heart, { identity: clientOf('heart', 'a'), validSeconds: 600, usage: 'client' });
    expect(await handshake({ ...server, ca: heart.anchorPem }, { ...own, ca: heart.anchorPem })).toEqual({
      accepted: clientOf('heart', 'a'),
    });
  });

  test('a server trusting the root accepts clients of every job (the chain carries the issuing CA)', async () => {
    const server = await serverCredentials(heart);
    const other = await credentialsFrom(lungs, { identity: clientOf('lungs', 'a'), validSeconds: 600, usage: 'client' });
    expect(await handshake({ ...server, ca: root.rootPem }, { ...other, ca: root.rootPem })).toEqual({
      accepted: clientOf('lungs', 'a'),
    });
  });

  test('why the anchor exists: a node:tls server ignores allowPartialTrustChain, so trusting certPem fails', async () => {
    const server = await serverCredentials(heart);
    const own = await credentialsFrom(heart, { identity: clientOf('heart', 'a'), validSeconds: 600, usage: 'client' });
    const trustIssuingCa = { ...server, ca: heart.certPem, allowPartialTrustChain: true };
    expect(await handshake(trustIssuingCa, { ...own, ca: root.rootPem })).toEqual({ refused: 'UNABLE_TO_GET_ISSUER_CERT' });
  });
});
