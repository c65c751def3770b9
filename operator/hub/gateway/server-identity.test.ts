import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { Server } from '@grpc/grpc-js';
import { createCertificateAuthority, type CertificateAuthority } from '../../pki/ca.js';
import { generateKeyPair } from '../../pki/keys.js';
import type { ServerCertificate } from '../pki.js';
import { SiteEnrollment } from '../../sitelink/proto.js';
import { RotatingServerCredentials } from './server-identity.js';

let root: CertificateAuthority;
let issued = 0;

async function shortLived(): Promise<ServerCertificate> {
  issued++;
  const key = await generateKeyPair();
  const certificatePem = await root.issue({ dnsNames: ['localhost'], publicKey: key.publicKeyPem, validSeconds: 3, usage: 'server' });
  return { privateKeyPem: key.privateKeyPem, certificatePem, caPem: root.certPem, notAfter: new Date(new X509Certificate(certificatePem).validTo) };
}

/** The fingerprint of the certificate a fresh TLS connection is served. */
function servedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: root.certPem, ALPNProtocols: ['h2'] }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('the gateway server certificate', () => {
  let server: Server;
  let credentials: RotatingServerCredentials;
  let port: number;

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'test hub', validDays: 1 });
    credentials = await RotatingServerCredentials.start(shortLived, undefined, (err) => {
      throw err;
    });
    server = new Server();
    server.addService(SiteEnrollment.service, { Enroll: () => undefined });
    port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
  });
  afterAll(() => {
    credentials.stop();
    server.forceShutdown();
  });

  test('is re-issued at 2/3 of its life and served to new connections without a restart', async () => {
    const first = await servedCertificate(port);
    expect(await servedCertificate(port)).toBe(first);
    // 3 s of life: renewed after 2.
    await new Promise((r) => setTimeout(r, 2_500));
    const second = await servedCertificate(port);
    expect(second).not.toBe(first);
    expect(issued).toBe(2);
  });
});
