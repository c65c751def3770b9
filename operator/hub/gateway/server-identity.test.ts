import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { eventually } from '../../../test/support/eventually.js';
import { Server } from '@grpc/grpc-js';
import { createCertificateAuthority, type CertificateAuthority } from '../../pki/ca.js';
import { generateKeyPair } from '../../pki/keys.js';
import type { ServerCertificate } from '../pki.js';
import { SiteEnrollment } from '../../sitelink/proto.js';
import { RotatingServerCredentials } from './server-identity.js';
import { listenGuarded, type GuardedListener } from '../../process/guarded-listener.js';

let root: CertificateAuthority;
let issued = 0;
const notAfters: Date[] = [];

async function shortLived(): Promise<ServerCertificate> {
  issued++;
  const key = await generateKeyPair();
  const certificatePem = await root.issue({ dnsNames: ['localhost'], publicKey: key.publicKeyPem, validSeconds: 3, usage: 'server' });
  const notAfter = new X509Certificate(certificatePem).validToDate;
  notAfters.push(notAfter);
  return { privateKeyPem: key.privateKeyPem, certificatePem, caPem: root.certPem, notAfter };
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
  let listener: GuardedListener;
  let startedAt: number;

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'test hub', validDays: 1 });
    startedAt = Date.now();
    credentials = await RotatingServerCredentials.start(shortLived, undefined, (err) => {
      throw err;
    });
    server = new Server();
    server.addService(SiteEnrollment.service, { Enroll: () => undefined });
    // As the gateway serves it: behind its own listener, through grpc-js's connection injector.
    listener = await listenGuarded(server, credentials, { host: '127.0.0.1', port: 0 });
    port = listener.port;
  });
  afterAll(() => {
    credentials.stop();
    listener?.close();
    server.forceShutdown();
  });

  test('is re-issued at 2/3 of its life and served to new connections without a restart', async () => {
    const first = await servedCertificate(port);
    expect(await servedCertificate(port)).toBe(first);
    // 3 s of life: renewed after 2, and new connections get the new one.
    await eventually(async () => (await servedCertificate(port)) !== first, 20_000, 'a renewed certificate served');
    const seenAt = Date.now();
    expect(issued).toBe(2);
    // Not before 2/3 of the first one's life (counted from no earlier than startedAt).
    expect(seenAt).toBeGreaterThanOrEqual(startedAt + ((notAfters[0]!.getTime() - startedAt) * 2) / 3);
  });
});
