/**
 * kubeRequest against a real HTTPS server on loopback (mutual TLS, as an API server with client
 * certificates): what the server sees of the connections the requests come on.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { createCertificateAuthority } from '../pki/ca.js';
import { generateKeyPair } from '../pki/keys.js';
import { kubeRequest } from './request.js';

describe('kubeRequest', () => {
  let server: Server;
  let kc: k8s.KubeConfig;
  let handshakes = 0;

  beforeAll(async () => {
    const ca = await createCertificateAuthority({ commonName: 'request test', validDays: 1 });
    const issue = async (usage: 'server' | 'client') => {
      const key = await generateKeyPair();
      const cert = await ca.issue({
        ...(usage === 'server' ? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } : { identity: { role: 'hub' as const } }),
        publicKey: key.publicKeyPem,
        validSeconds: 3600,
        usage,
      });
      return { key: key.privateKeyPem, cert };
    };
    const [serverTls, clientTls] = [await issue('server'), await issue('client')];
    server = createServer({ ...serverTls, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, peer: Boolean((req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject) }));
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: b64(ca.certPem) }],
      users: [{ name: 'u', certData: b64(clientTls.cert), keyData: b64(clientTls.key) }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  // client-node hands every request an agent of its own: a TLS handshake per request, and a
  // SecureContext (CA and key parsed again) for each, was most of the operator's cost per request.
  test('requests share kept-alive connections: a handshake per concurrent request, not one per request', async () => {
    const before = handshakes;
    for (let i = 0; i < 20; i++) expect(await kubeRequest(kc, { method: 'GET', path: `/api/v1/x${i}` })).toEqual({ path: `/api/v1/x${i}`, peer: true });
    expect(handshakes - before).toBe(1);
    await Promise.all(Array.from({ length: 4 }, (_, i) => kubeRequest(kc, { method: 'GET', path: `/api/v1/y${i}` })));
    await Promise.all(Array.from({ length: 4 }, (_, i) => kubeRequest(kc, { method: 'GET', path: `/api/v1/z${i}` })));
    // At most the four at once, the first connection among them.
    expect(handshakes - before).toBeLessThanOrEqual(4);
  });
});
